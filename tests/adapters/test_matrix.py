"""One matrix for every adapter and post kind: the same faults on the call that publishes.

For each case the adapter must classify the fault correctly and never publish twice:
- permanent / auth / rate limit: the matching typed error, nothing created;
- an unreachable platform: RetryableError, nothing created;
- everything else (5xx, timeouts before or after the platform acted, resets before or after):
  either a result for the one post created, an AmbiguousError (surfaced to the user), or a
  RetryableError that is safe: a second attempt, resumed from what the first remembered, ends
  with exactly one post on the platform.
Also: "sending" is recorded before the platform creates anything.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.outcomes import Failed, Status
from services.platforms.base import AdapterContext, PublishJob, PublishResult
from services.platforms.registry import ADAPTERS
from services.policy import RetryRules, outcome_for_error
from tests.adapters.harness import SLOW_DELAY_S, Harness, ProgressRecorder, Running, iter_harnesses

DEFERRED, FAILED = Status.DEFERRED, Status.FAILED
HARNESSES = list(iter_harnesses())
FAULTS = (
    "success",
    "permanent",
    "auth",
    "rate_limit",
    "server_error",
    "error_after_apply",
    "slow_before",
    "slow_after",
    "reset_before",
    "reset_after",
    "unreachable",
)
EXPECTED = {
    "permanent": PermanentError,
    "auth": AuthError,
    "rate_limit": RateLimitedError,
    "unreachable": RetryableError,
}
# What the post ends as after this attempt (services.policy): the status the run writes back.
ENDS_AS = {
    PermanentError: FAILED,
    AuthError: FAILED,
    RateLimitedError: DEFERRED,
    RetryableError: DEFERRED,
    AmbiguousError: DEFERRED,  # the next attempt reconciles with the platform before anything else
}
CASES = [
    pytest.param(harness, kind, fault, id=f"{harness.platform}-{kind}-{fault}")
    for harness in HARNESSES
    for kind in harness.kinds
    for fault in FAULTS
]


def created_count(running: Running) -> int:
    return len(running.simulator.created)


def recorder_for(running: Running) -> ProgressRecorder:
    """The Progress a run would write to the post's metadata, counting the posts created so far."""
    return ProgressRecorder(counter=lambda: created_count(running))


def attempt(running: Running, job: PublishJob, recorder: ProgressRecorder, settings: Any = None) -> Any:
    settings = settings or running.settings
    with httpx.Client(timeout=settings.http_timeout_s) as http:
        ctx = AdapterContext(
            http=http,
            settings=settings,
            progress=recorder,
            now=lambda: datetime.now(UTC),
            sleep=recorder.sleep,
            save_token=recorder.save_token,
        )
        try:
            outcome = running.adapter.publish(job, running.connection, ctx)
        except PlatformError as exc:
            outcome = exc
    for connection, _ in recorder.saved_tokens:  # tokens are only ever saved for this platform
        assert connection.platform == running.connection.platform
    return outcome


@pytest.mark.parametrize(("harness", "kind", "fault"), CASES)
def test_adapter_fault_matrix(harness: Harness, kind: str, fault: str):
    """Each adapter classifies each fault as the contract says and never publishes twice."""
    with harness.start() as running:
        job = harness.job(running, kind)
        recorder = recorder_for(running)
        step = harness.publish_step(kind)
        settings = None
        if fault == "unreachable":
            settings = _unreachable(running)
        elif fault == "auth":
            running.simulator.inject("auth", step=step, times=10)  # refreshing must not hide a dead token
        elif fault != "success":
            running.simulator.inject(fault, step=step, delay=SLOW_DELAY_S)
        first = attempt(running, job, recorder, settings)

        if isinstance(first, PlatformError):
            outcome = outcome_for_error(
                first,
                display_name=harness.platform,
                attempts_so_far=0,
                now=datetime.now(UTC),
                rules=RetryRules(),
            )
            expected = next(status for kind, status in ENDS_AS.items() if isinstance(first, kind))
            assert outcome.status == expected, (type(first), outcome)
            disconnects = isinstance(outcome, Failed) and outcome.disconnect is not None
            assert disconnects == isinstance(first, AuthError)
        if fault in EXPECTED:
            assert isinstance(first, EXPECTED[fault]), first
            assert created_count(running) == 0
            return
        if fault == "success":
            assert isinstance(first, PublishResult), first
        if recorder.sending_count:
            assert recorder.counted("sending")[0] == ("sending", 0), (
                "sending was recorded after the post existed"
            )
        if isinstance(first, PublishResult):
            time.sleep(SLOW_DELAY_S + 0.3 if fault.startswith("slow") else 0)
            assert created_count(running) == 1
            assert recorder.sending_count >= 1
            assert first.post_id
            return
        assert isinstance(first, RetryableError | AmbiguousError), first
        if fault.startswith("slow"):
            time.sleep(SLOW_DELAY_S + 0.3)  # let the platform finish what it was still doing
        # A later run retries (ambiguous outcomes too, reconciling first): prove it cannot duplicate.
        resumed = PublishJob(
            **{
                **job.__dict__,
                "resume": dict(recorder.remembered),
                "sending_started": recorder.sending_count > 0,
            }
        )
        second = attempt(running, resumed, recorder_for(running))
        assert isinstance(second, PublishResult), second
        assert created_count(running) == 1


def _unreachable(running: Running) -> Any:
    """The harness settings with every platform URL pointing at a closed loopback port.

    A platform whose address is the user's own (a WordPress site) keeps it on the connection:
    that one is pointed at the closed port too.
    """
    closed = "http://127.0.0.1:9"
    for name, value in running.connection.__dict__.items():
        if name.endswith("_url") and isinstance(value, str):
            changed = {name: closed + httpx.URL(value).raw_path.decode()}
            running.connection = dataclasses.replace(running.connection, **changed)
    values = running.settings.__dict__.copy()
    for name, value in values.items():
        if name.endswith("_url") and isinstance(value, str):
            values[name] = closed + httpx.URL(value).raw_path.decode()
    return type(running.settings)(**values)


def test_every_platform_is_in_the_matrix():
    """Every registered adapter takes part in the shared matrix."""
    assert sorted(h.platform for h in HARNESSES) == sorted(ADAPTERS)
