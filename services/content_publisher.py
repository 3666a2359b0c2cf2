"""Publishing one claimed post: its connection, its token, its adapter, and how it ended.

`ContentPublisher.publish(post)` never raises for anything about the post itself: every such
problem becomes an outcome with a sentence for the user. It raises only for what must stop the
run: the database is gone (StoreError). A post whose claim was lost raises ClaimLostError (the
runner leaves it to whoever holds it now).

Connections are read once per run for every owner the run will publish for (`load_connections`),
and each post's connection is known before it starts: the runner's lanes are per connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from services.errors import PlatformError, StoreError
from services.ledger import ClaimLostError, Ledger, SendingNotAllowedError
from services.outcomes import Failed, Outcome, Published, Unconfirmed
from services.platforms.base import Adapter, AdapterContext, Connection, PlatformSettings, PublishJob
from services.policy import RetryRules, maybe_live_advice, outcome_for_error
from services.posts import ATTEMPTS_KEY, InvalidPostError, Post, build_job
from services.redaction import scrub
from services.store import Store
from services.vault import Vault

log = logging.getLogger("publisher")

DISPLAY_NAMES = {
    "twitter": "X",
    "x": "X",
    "wordpress": "WordPress",
    "tiktok": "TikTok",
    "pinterest": "Pinterest",
    "threads": "Threads",
}


def registry() -> Mapping[str, Adapter]:
    """Every adapter, by platform name (loaded on first use: an idle run never needs them)."""
    from services.platforms.registry import ADAPTERS  # noqa: PLC0415 (deferred on purpose, see above)

    return ADAPTERS


def display_name(platform: str) -> str:
    """The platform's name as users write it."""
    adapter = registry().get(platform)
    if adapter is not None:
        return adapter.display_name
    return DISPLAY_NAMES.get(platform, platform.capitalize() or "an unknown platform")


class ContentPublisher:
    """Publishes claimed posts through the platform adapters."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        vault: Vault,
        settings: PlatformSettings,
        http: httpx.Client,
        *,
        rules: RetryRules,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
        adapters: Mapping[str, Adapter] | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._vault = vault
        self._settings = settings
        self._http = http
        self._rules = rules
        self._now = now
        self._sleep = sleep
        self._given_adapters = adapters
        # Active connection rows per (owner, platform), read once per run, most recent first.
        self._connections: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._loaded: set[str] = set()

    @property
    def _adapters(self) -> Mapping[str, Adapter]:
        return self._given_adapters if self._given_adapters is not None else registry()

    # ---- connections -------------------------------------------------------------------------
    def load_connections(self, owner_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Read the active connections of owners not read yet this run; the rows read."""
        new = sorted({owner for owner in owner_ids if owner and owner not in self._loaded})
        if not new:
            return []
        rows = self._store.connections_of(new)
        self._loaded.update(new)
        for row in rows:
            key = (str(row.get("user_id")), str(row.get("platform") or "").strip().lower())
            self._connections.setdefault(key, []).append(row)
        return rows

    def prepare(self, post: Post) -> tuple[Adapter, PublishJob]:
        """The adapter and job for a post, limits checked; raises PlatformError or InvalidPostError."""
        if not post.platform:
            raise InvalidPostError(
                "The post names no platform: choose one in the app, then schedule it again."
            )
        adapter = self._adapters.get(post.platform)
        if adapter is None:
            raise InvalidPostError(
                f"Publishing to {display_name(post.platform)} is not supported by the scheduler."
            )
        if not post.owner_id:
            raise InvalidPostError(
                "The post has no owner (its campaign has no user), so no account can publish it."
            )
        job = build_job(post)
        adapter.check(job)
        return adapter, job

    def choose_connection(self, post: Post, adapter: Adapter) -> dict[str, Any]:
        """The owner's connection the post names, else the most recently connected one."""
        assert post.owner_id is not None  # noqa: S101 (prepare() rejected ownerless posts)
        if post.owner_id not in self._loaded:
            self.load_connections([post.owner_id])
        rows = self._connections.get((post.owner_id, post.platform), [])
        wanted_id = post.metadata.get("connection_id")
        wanted_page = post.metadata.get("page_id")
        if wanted_id or wanted_page:
            for row in rows:
                if (wanted_id and str(row.get("id")) == str(wanted_id)) or (
                    wanted_page and str(row.get("page_id")) == str(wanted_page)
                ):
                    return row
            raise InvalidPostError(
                f"The {adapter.display_name} account this post was scheduled for is no longer connected: "
                "reconnect it in the app, then reschedule this post."
            )
        if not rows:
            raise InvalidPostError(
                f"No active {adapter.display_name} connection: reconnect the account in the app."
            )
        return rows[0]

    def connection(self, row: Mapping[str, Any], adapter: Adapter) -> Connection:
        """A connection row with its secrets decrypted (InvalidPostError when they are damaged)."""
        return self._vault.connection(row, adapter.display_name)

    def verify_key(self, rows: list[dict[str, Any]]) -> None:
        """EncryptionKeyError when ENCRYPTION_KEY decrypts none of the stored tokens."""
        self._vault.verify_key(rows)

    def prime(self, rows: list[dict[str, Any]]) -> None:
        """Decrypt these connections once, up front (their secrets masked from the first line)."""
        self._vault.prime(rows)

    def lane_key(self, post: Post) -> str:
        """The account a post goes to (its lane); a post that cannot be published has its own."""
        try:
            adapter = self._adapters[post.platform]
            return f"connection:{self.choose_connection(post, adapter)['id']}"
        except (KeyError, InvalidPostError, AssertionError):
            return f"post:{post.ref}"

    def _disconnect(self, connection_id: str, owner: str, platform: str, status: str) -> None:
        self._store.disconnect(connection_id, status, self._now())
        self._vault.forget(connection_id)
        key = (owner, platform)
        self._connections[key] = [
            r for r in self._connections.get(key, []) if str(r.get("id")) != connection_id
        ]

    # ---- publishing ----------------------------------------------------------------------------
    def publish(self, post: Post, *, may_send: bool = True) -> Outcome:
        """Publish one claimed post and say how it ended.

        `may_send=False`: the post is past the lateness limit but an earlier attempt may have
        published it; the adapter only looks for it on the platform (it reconciles before any
        send), and the post is published if found, else reported as possibly live.
        """
        try:
            adapter, job = self.prepare(post)
            row = self.choose_connection(post, adapter)
            connection = self._vault.connection(row, adapter.display_name)
        except InvalidPostError as exc:
            return Failed(str(exc))
        except PlatformError as exc:  # a limit broken: found before any network call
            return Failed(exc.message, detail=exc.kind)
        progress = self._ledger.progress(post, may_send=may_send)
        ctx = AdapterContext(
            http=self._http,
            settings=self._settings,
            progress=progress,
            now=self._now,
            sleep=self._sleep,
            save_token=self._vault.save,
            tokens=self._vault,
        )
        try:
            result = adapter.publish(job, connection, ctx)
        except SendingNotAllowedError:
            return Unconfirmed(
                f"An earlier attempt to publish this post was interrupted and {adapter.display_name} could "
                f"not confirm whether it went out before the lateness limit passed. "
                f"{maybe_live_advice(adapter.display_name)}",
                expired=True,
            )
        except PlatformError as exc:
            outcome = outcome_for_error(
                exc,
                display_name=adapter.display_name,
                attempts_so_far=_attempts(post),
                now=self._now(),
                rules=self._rules,
            )
            if not may_send and not isinstance(outcome, Failed):
                outcome = Unconfirmed(
                    f"{exc.message} {maybe_live_advice(adapter.display_name)}",
                    detail=exc.detail,
                    expired=True,
                )
            if isinstance(outcome, Failed) and outcome.disconnect:
                self._disconnect(connection.id, connection.user_id, post.platform, outcome.disconnect)
            return outcome
        except (StoreError, ClaimLostError):
            raise
        except Exception as exc:
            log.exception("unexpected error publishing %s", post.ref)
            message = f"An unexpected error stopped publishing to {adapter.display_name}."
            detail = scrub(f"{type(exc).__name__}: {exc}")
            if progress.sending_started:
                return Unconfirmed(f"{message} {maybe_live_advice(adapter.display_name)}", detail=detail)
            return Failed(message, detail=detail)
        self._ledger.touched(connection.id)
        return Published(result.post_id, result.url, dict(result.notes))


def _attempts(post: Post) -> int:
    value = post.metadata.get(ATTEMPTS_KEY)
    return value if isinstance(value, int) and value >= 0 else 0
