"""Configuration: required variables, validation messages, defaults, no values in errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from services.config import VARIABLES, load_config
from services.errors import ConfigError

KEY = Fernet.generate_key().decode()
BASE = {
    "SUPABASE_URL": "https://abc.supabase.co",
    "SUPABASE_SERVICE_ROLE_KEY": "service-key-123456",
    "ENCRYPTION_KEY": KEY,
}


def test_minimal_configuration_has_sane_defaults():
    """The three required variables are enough; every other setting has its documented default."""
    config = load_config(BASE)
    assert config.max_lateness == timedelta(hours=24)
    assert config.platforms.meta_graph_url == "https://graph.facebook.com/v27.0"
    assert config.platforms.linkedin_api_version == "202607"
    assert config.test_user_id is None


@pytest.mark.parametrize("missing", ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "ENCRYPTION_KEY"])
def test_missing_required_variable_is_named(missing):
    """A missing required variable stops the run with a message naming it."""
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(env)


def test_every_problem_is_listed_without_values():
    """All problems are reported at once, and no value (secret or not) appears in the message."""
    env = dict(
        BASE,
        ENCRYPTION_KEY="not-a-fernet-key-SECRET",
        PUBLISH_MAX_LATENESS="soon",
        TEST_USER_ID="bob",
        SUPABASE_URL="ftp://x",
        YOUTUBE_CHUNK_BYTES="300000",
    )
    with pytest.raises(ConfigError) as info:
        load_config(env)
    message = str(info.value)
    names = ("ENCRYPTION_KEY", "PUBLISH_MAX_LATENESS", "TEST_USER_ID", "SUPABASE_URL", "YOUTUBE_CHUNK_BYTES")
    for name in names:
        assert name in message
    assert "SECRET" not in message
    assert "bob" not in message


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), ("3600", 3600)]
)
def test_durations(text, seconds):
    """Durations accept s, m, h, d suffixes or plain seconds."""
    assert load_config(dict(BASE, PUBLISH_MAX_LATENESS=text)).max_lateness.total_seconds() == seconds


def test_test_user_flag_overrides_environment():
    """--user-id wins over TEST_USER_ID and is normalised."""
    user = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    assert load_config(dict(BASE, TEST_USER_ID="x"), test_user_id=user).test_user_id == user.lower()


def test_env_example_documents_every_variable():
    """.env.example lists every variable the program reads."""
    from services.config import ROOT

    text = (ROOT / ".env.example").read_text()
    missing = [name for name in VARIABLES if f"{name}=" not in text]
    assert missing == []


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"PUBLISH_CLAIM_LEASE": "0"}, "PUBLISH_CLAIM_LEASE must be at least 4 times"),
        ({"PUBLISH_CLAIM_LEASE": "5s"}, "PUBLISH_CLAIM_LEASE must be at least 4 times"),
        ({"PUBLISH_CLAIM_LEASE": "45s", "PUBLISH_RUN_BUDGET": "50s"}, "longer than PUBLISH_RUN_BUDGET"),
        ({"PUBLISH_RUN_BUDGET": "0s"}, "PUBLISH_RUN_BUDGET must be more than 0s"),
        ({"PUBLISH_CONCURRENCY": "0"}, "PUBLISH_CONCURRENCY must be at least 1"),
        ({"PUBLISH_CONCURRENCY_YOUTUBE": "none"}, "PUBLISH_CONCURRENCY_YOUTUBE must be a whole number"),
    ],
)
def test_unsafe_lease_and_lane_settings_are_configuration_errors(settings, words):
    """A lease that can run out between renewals, or lane settings that make no sense, stop the run."""
    with pytest.raises(ConfigError, match=words):
        load_config(dict(BASE, **settings))


def test_a_short_lease_is_accepted_with_a_short_database_timeout():
    """The lease floor follows the database timeout: 4s with a 1s timeout and a 3s budget is safe."""
    config = load_config(
        dict(BASE, PUBLISH_CLAIM_LEASE="4s", SUPABASE_TIMEOUT_SECONDS="1", PUBLISH_RUN_BUDGET="3s")
    )
    assert config.claim_lease.total_seconds() == 4


def test_platform_caps_default_to_two_youtube_uploads():
    """Only YouTube has a cap by default; a cap set for another platform is read by its name."""
    assert load_config(dict(BASE)).concurrency_caps == {"youtube": 2}
    assert load_config(dict(BASE, PUBLISH_CONCURRENCY_TWITTER="3")).concurrency_caps == {
        "youtube": 2,
        "twitter": 3,
    }
