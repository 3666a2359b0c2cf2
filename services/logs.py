"""Logging: one line per event, secrets masked, the file rotating by size on its own.

Formats: `text` (`2026-11-28T21:00:00Z INFO post published run=… table=…`) or `json` (one
object per line). Structured fields travel in `extra={"fields": {...}}`. A filter on every
handler masks every secret the process knows (services.redaction) in the message, its
arguments, the fields and any traceback, so no code path can leak a token into the log.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from typing import Any

from services.config import LogSettings
from services.redaction import scrub

# HTTP client libraries log full URLs (which may carry tokens) at DEBUG/INFO.
_NOISY_LOGGERS = ("httpx", "httpcore", "hpack", "urllib3")


class RedactingFilter(logging.Filter):
    """Renders the message now and masks secrets in it, its fields and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _value(value: Any) -> str:
    text = "" if value is None else str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' "=\n')) else text


class TextFormatter(logging.Formatter):
    """`time LEVEL message key=value ...`: greppable, one event per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_stamp(record)} {record.levelname} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += "".join(f" {k}={_value(v)}" for k, v in fields.items())
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _stamp(record),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(settings: LogSettings, *, console: bool | None = None) -> None:
    """Configure the root logger: the rotating file, and stderr when a person is watching.

    Under cron, stderr goes to the same file (the wrapper appends it there), so logging to both
    would write every line twice: the console handler is only added for a terminal.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(settings.level)
    formatter: logging.Formatter = JsonFormatter() if settings.format == "json" else TextFormatter()
    handlers: list[logging.Handler] = []
    if settings.file is not None:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.file,
                maxBytes=settings.max_bytes,
                backupCount=settings.backup_count,
                encoding="utf-8",
            )
        )
    show = sys.stderr.isatty() if console is None else console
    if show or settings.file is None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
