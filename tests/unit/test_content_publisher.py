"""ContentPublisher against fakes of the ledger, the vault, the store and an adapter: each way an
attempt can end becomes the right outcome, and the connection is dropped only on an auth error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import pytest

from services.content_publisher import ContentPublisher
from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformConfigError,
    RateLimitedError,
    RetryableError,
)
from services.ledger import SendingNotAllowedError
from services.outcomes import Deferred, Failed, Published, Unconfirmed
from services.platforms.base import (
    TEXT,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PlatformSettings,
    PublishJob,
    PublishResult,
)
from services.policy import RetryRules
from services.posts import CREATED_CONTENT, Post, post_from_row

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeProgress:
    may_send: bool = True
    sending_started: bool = False

    def remember(self, **remote_ids: Any) -> None:
        pass

    def sending(self, **remote_ids: Any) -> None:
        if not self.may_send:
            raise SendingNotAllowedError("post")
        self.sending_started = True


@dataclass
class FakeLedger:
    touched_ids: list[str] = field(default_factory=list)

    def progress(self, post: Post, *, may_send: bool = True) -> FakeProgress:
        return FakeProgress(may_send)

    def touched(self, connection_id: str) -> None:
        self.touched_ids.append(connection_id)


@dataclass
class FakeStore:
    rows: list[dict[str, Any]] = field(default_factory=list)
    disconnected: list[tuple[str, str]] = field(default_factory=list)

    def connections_of(self, user_ids: list[str]) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["user_id"] in user_ids]

    def disconnect(self, connection_id: str, status: str, now: datetime) -> None:
        self.disconnected.append((connection_id, status))


class FakeVault:
    def connection(self, row: dict[str, Any], display_name: str) -> Connection:
        return Connection(
            id=row["id"],
            user_id=row["user_id"],
            platform="fake",
            page_id="p",
            page_name="P",
            access_token="t",
        )

    def save(self, connection: Connection, update: Any) -> Connection:
        return connection

    def forget(self, connection_id: str) -> None:
        pass


class ScriptedAdapter(Adapter):
    """Sends when told, then raises or returns what the test scripted."""

    platform: ClassVar[str] = "fake"
    display_name: ClassVar[str] = "Fakebook"
    limits: ClassVar[Limits] = Limits(kinds=frozenset({TEXT}), text_max_chars=20)

    def __init__(self) -> None:
        self.raise_before_send: Exception | None = None
        self.raise_after_send: Exception | None = None

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        if self.raise_before_send is not None:
            raise self.raise_before_send
        ctx.progress.sending()
        if self.raise_after_send is not None:
            raise self.raise_after_send
        return PublishResult(post_id="remote-1", url="https://fake/remote-1")


def post(content: str = "Hello", **metadata: Any) -> Post:
    row = {"id": "p1", "user_id": "u1", "platform": "fake", "content_type": "post", "content": content}
    return post_from_row(CREATED_CONTENT, {**row, "metadata": metadata})


@pytest.fixture
def world() -> tuple[ContentPublisher, ScriptedAdapter, FakeStore, FakeLedger]:
    adapter = ScriptedAdapter()
    store = FakeStore([{"id": "c1", "user_id": "u1", "platform": "fake", "connected_at": "2026-01-01"}])
    ledger = FakeLedger()
    publisher = ContentPublisher(
        store,  # type: ignore[arg-type]
        ledger,  # type: ignore[arg-type]
        FakeVault(),  # type: ignore[arg-type]
        PlatformSettings(),
        httpx.Client(),
        rules=RetryRules(max_attempts=3),
        now=lambda: NOW,
        sleep=lambda _: None,
        adapters={"fake": adapter},
    )
    return publisher, adapter, store, ledger


def test_a_published_post_records_the_platform_id_and_touches_the_connection(world):
    """Success: Published with the adapter's id and URL; the connection's last post is noted."""
    publisher, _, store, ledger = world
    assert publisher.publish(post()) == Published("remote-1", "https://fake/remote-1", {})
    assert ledger.touched_ids == ["c1"]
    assert store.disconnected == []


def test_a_broken_limit_fails_before_the_adapter_runs(world):
    """A text over the adapter's limit fails with the limit's sentence; nothing is sent."""
    publisher, adapter, _, _ = world
    adapter.raise_before_send = AssertionError("the adapter must not run")
    outcome = publisher.publish(post("x" * 50))
    assert isinstance(outcome, Failed)
    assert "limited to 20 characters" in outcome.message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (PermanentError("fake", "Rejected."), Failed),
        (RateLimitedError("fake", "Slow down."), Deferred),
        (RetryableError("fake", "Try later."), Deferred),
        (AmbiguousError("fake", "Maybe."), Deferred),
        (PlatformConfigError("fake", "Bad client."), Deferred),
    ],
)
def test_platform_errors_become_the_policys_outcome(world, error, kind):
    """Each typed error becomes the outcome services.policy gives it; only auth drops a connection."""
    publisher, adapter, store, _ = world
    adapter.raise_after_send = error
    assert isinstance(publisher.publish(post()), kind)
    assert store.disconnected == []


def test_an_auth_error_drops_the_connection_and_stops_the_account(world):
    """A refused login marks the connection and tells the runner to stop that account's lane."""
    publisher, adapter, store, _ = world
    adapter.raise_before_send = AuthError("fake", "Reconnect.", connection_status="revoked")
    outcome = publisher.publish(post())
    assert isinstance(outcome, Failed)
    assert outcome.stop_account
    assert store.disconnected == [("c1", "revoked")]
    # The dropped connection is gone for the rest of the run.
    assert "No active Fakebook connection" in publisher.publish(post()).message  # type: ignore[union-attr]


def test_the_last_ambiguous_attempt_is_unconfirmed_not_failed(world):
    """When attempts run out on an ambiguous send, the user is told it may be live."""
    publisher, adapter, _, _ = world
    adapter.raise_after_send = AmbiguousError("fake", "The connection dropped.")
    outcome = publisher.publish(post(_publish_attempts=2))
    assert isinstance(outcome, Unconfirmed)
    assert "check your Fakebook account" in outcome.message


def test_reconciling_only_never_sends_and_says_it_may_be_live(world):
    """may_send=False: an adapter reaching its send is stopped; the post expires as maybe-live."""
    publisher, _, _, ledger = world
    outcome = publisher.publish(post(), may_send=False)
    assert isinstance(outcome, Unconfirmed)
    assert outcome.expired
    assert ledger.touched_ids == []


def test_a_bug_after_sending_is_unconfirmed_and_before_sending_a_failure(world):
    """An unexpected exception: maybe live once the send began, a plain failure before."""
    publisher, adapter, _, _ = world
    adapter.raise_after_send = KeyError("oops")
    assert isinstance(publisher.publish(post()), Unconfirmed)
    adapter.raise_after_send = None
    adapter.raise_before_send = KeyError("oops")
    assert isinstance(publisher.publish(post()), Failed)


def test_a_post_naming_a_connection_that_is_gone_fails_with_advice(world):
    """A post scheduled for a connection that no longer exists asks the user to reconnect it."""
    publisher, _, _, _ = world
    outcome = publisher.publish(post(connection_id="elsewhere"))
    assert isinstance(outcome, Failed)
    assert "no longer connected" in outcome.message


def test_lane_keys_are_per_connection_and_per_post_when_none_applies(world):
    """Posts of one connection share a lane; a post that cannot be published has its own."""
    publisher, _, _, _ = world
    assert publisher.lane_key(post()) == "connection:c1"
    assert publisher.lane_key(post(connection_id="elsewhere")) == "post:created_content/p1"
