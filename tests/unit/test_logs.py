"""Logging: the redacting filter on every path a secret can take, the two formats, the quiet HTTP
client loggers, and the heartbeat's /fail address."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.config import LogSettings
from services.heartbeat import fail_url
from services.logs import setup_logging
from services.redaction import MASK, register_secret

SECRET = "s3cr3t-page-token-value"  # not token-shaped: only registration can mask it


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """A log file the root logger writes to; handlers are removed again afterwards."""
    path = tmp_path / "test.log"
    yield path
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
        handler.close()


def configure(path: Path, level: str = "DEBUG", fmt: str = "text") -> None:
    setup_logging(LogSettings(level=level, format=fmt, file=path), console=False)


def _fail_with_secret() -> None:
    raise ValueError(f"bad token {SECRET}")


def test_registered_secret_is_masked_in_message_arguments_fields_and_traceback(log_file: Path):
    """A registered secret is masked wherever a log record carries it, tracebacks included."""
    register_secret(SECRET)
    configure(log_file)
    log = logging.getLogger("publisher")
    log.info("token %s in an argument", SECRET)
    log.warning("post failed", extra={"fields": {"error": f"platform said {SECRET}", "count": 3}})
    try:
        _fail_with_secret()
    except ValueError:
        log.exception("crash")
    text = log_file.read_text()
    assert SECRET not in text
    assert text.count(MASK) == 3
    assert "count=3" in text
    assert "ValueError: bad token [REDACTED]" in text


def test_token_shapes_are_masked_without_registration(log_file: Path):
    """Meta, LinkedIn, Google and bearer token shapes are masked even if nobody registered them."""
    configure(log_file)
    shapes = [
        "EAAGm0PX4ZCpsBAabcdefghijklmnopqrstu",
        "AQVabcdefghijklmnopqrstuvwxyz0123456789",
        "ya29.a0AfH6SMBabcdefghij",
        "1//0gabcdefghijklmnop",
    ]
    for shape in shapes:
        logging.getLogger("publisher").info("got %s back", shape)
    logging.getLogger("publisher").info("header Authorization: Bearer opaque-value-123456")
    logging.getLogger("publisher").info("url https://x.test/feed?access_token=opaque-value-654321&a=1")
    text = log_file.read_text()
    for secret in [*shapes, "opaque-value-123456", "opaque-value-654321"]:
        assert secret not in text
    assert "&a=1" in text


def test_url_encoded_secret_is_masked(log_file: Path):
    """A registered secret echoed URL-encoded by a platform is masked too."""
    register_secret("tok/en+with=chars")
    configure(log_file)
    logging.getLogger("publisher").info("echo: tok%2Fen%2Bwith%3Dchars")
    assert "tok%2Fen" not in log_file.read_text()


def test_json_format_is_one_object_per_line_with_fields_on_top(log_file: Path):
    """LOG_FORMAT=json writes one parseable object per line, structured fields at the top level."""
    configure(log_file, fmt="json")
    log = logging.getLogger("publisher")
    log.info("post published", extra={"fields": {"table": "created_content", "post": "p1"}})
    log.warning("two\nlines")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "post published"
    assert first["table"] == "created_content"
    assert first["level"] == "INFO"
    assert first["time"].endswith("Z")
    assert second["message"] == "two\nlines"


def test_log_level_filters_lower_levels(log_file: Path):
    """LOG_LEVEL=WARNING keeps warnings and drops info lines."""
    configure(log_file, level="WARNING")
    logging.getLogger("publisher").info("chatty")
    logging.getLogger("publisher").warning("important")
    text = log_file.read_text()
    assert "important" in text
    assert "chatty" not in text


def test_http_client_loggers_stay_quiet_even_at_debug(log_file: Path):
    """At LOG_LEVEL=DEBUG, httpx still logs no request line, so URLs never reach the log."""
    configure(log_file, level="DEBUG")
    with httpx.Client(transport=httpx.MockTransport(lambda _request: httpx.Response(200))) as client:
        client.get("https://graph.example/v27.0/me?access_token=plain-url-token-1234")
    text = log_file.read_text()
    assert "graph.example" not in text
    assert "plain-url-token" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hc-ping.com/abc", "https://hc-ping.com/abc/fail"),
        ("https://hc-ping.com/abc/", "https://hc-ping.com/abc/fail"),
        ("https://mon.example/ping/abc?rid=1", "https://mon.example/ping/abc/fail?rid=1"),
    ],
)
def test_heartbeat_fail_url_appends_fail_to_the_path(url: str, expected: str):
    """The failure ping goes to <HEARTBEAT_URL>/fail, keeping any query string."""
    assert fail_url(url) == expected
