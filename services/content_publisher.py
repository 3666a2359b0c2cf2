"""Publishing one claimed post: connection, token, text and media, adapter, outcome.

`ContentPublisher.publish(post)` never raises for anything about the post itself: every such
problem becomes an `Outcome` with a sentence for the user. It raises only for what must stop
the whole run: the database is gone (StoreError) or ENCRYPTION_KEY is wrong (EncryptionKeyError).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from services.due import parse_timestamp
from services.errors import EncryptionKeyError, PlatformError, StoreError
from services.platforms import ADAPTERS
from services.platforms.base import (
    Adapter,
    AdapterContext,
    Connection,
    PlatformSettings,
    PublishJob,
    TokenUpdate,
)
from services.policy import FAILED, PUBLISHED, Outcome, RetryRules, outcome_for_error
from services.posts import ATTEMPTS_KEY, REMOTE_KEY, SENDING_KEY, InvalidPostError, Post, build_job
from services.redaction import scrub
from services.store import Store
from services.tokens import DamagedTokenError, TokenCipher

log = logging.getLogger("publisher")

DISPLAY_NAMES = {
    "twitter": "Twitter",
    "x": "X",
    "wordpress": "WordPress",
    "tiktok": "TikTok",
    "pinterest": "Pinterest",
    "threads": "Threads",
}


class ClaimLostError(Exception):
    """This run no longer holds the post's claim, so it must not send anything."""


def display_name(platform: str) -> str:
    """The platform's name as users write it."""
    adapter = ADAPTERS.get(platform)
    if adapter is not None:
        return adapter.display_name
    return DISPLAY_NAMES.get(platform, platform.capitalize() or "an unknown platform")


class _Progress:
    """Adapter progress notes, written to the post's metadata before the adapter goes on."""

    def __init__(self, store: Store, post: Post, run_id: str, now: Callable[[], datetime]) -> None:
        self._store = store
        self._post = post
        self._run_id = run_id
        self._now = now
        remote = post.metadata.get(REMOTE_KEY)
        self.remote: dict[str, Any] = dict(remote) if isinstance(remote, dict) else {}
        self.sending_started = False

    def _note(self, patch: Mapping[str, Any]) -> None:
        if not self._store.note(self._post.table, self._post.id, self._run_id, patch):
            raise ClaimLostError(self._post.ref)

    def remember(self, **remote_ids: Any) -> None:
        self.remote.update(remote_ids)
        self._note({REMOTE_KEY: self.remote})

    def sending(self) -> None:
        self._note({SENDING_KEY: self._now().astimezone(UTC).isoformat()})
        self.sending_started = True


class ContentPublisher:
    """Publishes claimed posts through the platform adapters."""

    def __init__(
        self,
        store: Store,
        cipher: TokenCipher,
        settings: PlatformSettings,
        http: httpx.Client,
        *,
        run_id: str,
        rules: RetryRules,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
        adapters: Mapping[str, Adapter] = ADAPTERS,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._settings = settings
        self._http = http
        self._run_id = run_id
        self._rules = rules
        self._now = now
        self._sleep = sleep
        self._adapters = adapters
        # Connection rows per (owner, platform), read once per run: a busy account's posts would
        # otherwise re-read the same rows for every post. A disconnect drops the entry.
        self._connections: dict[tuple[str, str], list[dict[str, Any]]] = {}

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
        key = (post.owner_id, post.platform)
        if key not in self._connections:
            self._connections[key] = self._store.connections(post.owner_id, post.platform)
        rows = self._connections[key]
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
        """A connection row with its tokens decrypted (EncryptionKeyError stops the run)."""
        try:
            access = self._cipher.decrypt(row.get("access_token_encrypted"))
            refresh = self._cipher.decrypt(row.get("refresh_token_encrypted"))
            app_password = self._cipher.decrypt(row.get("wordpress_app_password_encrypted"))
        except DamagedTokenError:
            raise InvalidPostError(
                f"The saved {adapter.display_name} connection is damaged: reconnect the account in the app."
            ) from None
        if not access and not app_password:
            raise InvalidPostError(
                f"The {adapter.display_name} connection has no access token: "
                "reconnect the account in the app."
            )
        expires = row.get("token_expires_at")
        try:
            expires_at = parse_timestamp(expires, "token_expires_at") if expires else None
        except ValueError:
            expires_at = None  # unreliable by contract; adapters refresh on a 401 anyway
        return Connection(
            id=str(row["id"]),
            user_id=str(row.get("user_id")),
            platform=str(row.get("platform")),
            page_id=_text(row.get("page_id")),
            page_name=_text(row.get("page_name")),
            access_token=access or "",
            refresh_token=refresh,
            token_expires_at=expires_at,
            linkedin_id=_text(row.get("linkedin_id")),
            organization_id=_text(row.get("organization_id")),
            instagram_id=_text(row.get("instagram_id")),
            account_type=_text(row.get("account_type")),
            page_username=_text(row.get("page_username")),
            wordpress_site_url=_text(row.get("wordpress_site_url")),
            wordpress_username=_text(row.get("wordpress_username")),
            wordpress_app_password=app_password,
        )

    def _save_token(self, connection: Connection, update: TokenUpdate) -> None:
        self._connections.pop((connection.user_id, connection.platform), None)  # re-read the new token
        try:
            self._store.save_tokens(
                connection.id,
                self._cipher.encrypt(update.access_token),
                self._cipher.encrypt(update.refresh_token) if update.refresh_token else None,
                update.expires_at,
                self._now(),
            )
        except StoreError as exc:
            # The refreshed token still works for this run; the next run refreshes again.
            log.error("could not store the refreshed token of connection %s: %s", connection.id, exc)

    def publish(self, post: Post) -> Outcome:
        """Publish one claimed post and say how it ended."""
        try:
            adapter, job = self.prepare(post)
            row = self.choose_connection(post, adapter)
            connection = self.connection(row, adapter)
        except InvalidPostError as exc:
            return Outcome(FAILED, message=str(exc))
        except PlatformError as exc:  # a limit broken: found before any network call
            return Outcome(FAILED, message=exc.message, detail=exc.kind)
        progress = _Progress(self._store, post, self._run_id, self._now)
        ctx = AdapterContext(
            http=self._http,
            settings=self._settings,
            progress=progress,
            now=self._now,
            sleep=self._sleep,
            save_token=self._save_token,
        )
        try:
            result = adapter.publish(job, connection, ctx)
        except PlatformError as exc:
            outcome = outcome_for_error(
                exc,
                display_name=adapter.display_name,
                attempts_so_far=_attempts(post),
                now=self._now(),
                rules=self._rules,
            )
            if outcome.disconnect:
                self._store.disconnect(connection.id, outcome.disconnect, self._now())
                self._connections.pop((connection.user_id, post.platform), None)
            return outcome
        except (StoreError, EncryptionKeyError, ClaimLostError):
            raise
        except Exception as exc:
            log.exception("unexpected error publishing %s", post.ref)
            message = f"An unexpected error stopped publishing to {adapter.display_name}."
            if progress.sending_started:
                message += (
                    f" The post may have been published: check your {adapter.display_name} account "
                    "and reschedule it only if it is not there."
                )
            return Outcome(FAILED, message=message, detail=scrub(f"{type(exc).__name__}: {exc}"))
        try:
            self._store.touch_posted(connection.id, self._now())
        except StoreError as exc:
            log.warning("could not update last_posted_at of connection %s: %s", connection.id, exc)
        return Outcome(PUBLISHED, platform_post_id=result.post_id, url=result.url)


def _attempts(post: Post) -> int:
    value = post.metadata.get(ATTEMPTS_KEY)
    return value if isinstance(value, int) and value >= 0 else 0


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
