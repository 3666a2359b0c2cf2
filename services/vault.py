"""The connections' stored secrets during a run: decryption, refreshed tokens, and one refresh per
connection at a time across every lane and server (the adapters' `TokenVault`).

Why a lock across servers: X rotates refresh tokens (each refresh invalidates the previous one),
so two refreshes of one connection at once leave one runner holding a dead token and can revoke
the whole grant. The lock is a row in `publisher_connection_locks` with an expiry (a crashed
holder's lock runs out); within one process a plain lock per connection comes first, so lanes
never even race for the row. Under the lock the row is read again: if another lane or server has
already refreshed, its token is used and no second refresh happens. New tokens are stored,
encrypted, before anyone uses them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.due import parse_timestamp
from services.errors import AuthError, EncryptionKeyError, RetryableError, StoreError
from services.platforms.base import Connection, TokenUpdate
from services.posts import InvalidPostError
from services.store import Store
from services.tokens import DamagedTokenError, TokenCipher

log = logging.getLogger("publisher")

LOCK_SECONDS = 60  # how long a refresh may hold a connection's lock before others may take it
LOCK_WAIT_S = 45.0  # how long a lane waits for another server's refresh before deferring
LOCK_POLL_S = 0.5
SAVE_RETRY_DELAYS = (0.5, 1.0, 2.0)
SAMPLE_SIZE = 100  # other active connections read to tell a wrong key from a damaged token


class Vault:
    """Decrypted connections of one run and their serialised token refreshes."""

    def __init__(
        self,
        store: Store,
        cipher: TokenCipher,
        *,
        holder: str,
        now: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._holder = holder
        self._now = now
        self._sleep = sleep
        self._monotonic = monotonic
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # Every connection decrypted this run, by id; a refresh replaces its entry.
        self._known: dict[str, Connection] = {}

    # ---- decryption ----------------------------------------------------------------------------
    def connection(self, row: Mapping[str, Any], display_name: str) -> Connection:
        """A connection row with its secrets decrypted, once per run; a token this run refreshed wins.

        A damaged secret is this connection's problem only: InvalidPostError with a sentence
        asking the user to reconnect.
        """
        with self._guard:
            known = self._known.get(str(row["id"]))
        return known if known is not None else self._remember(self._decrypt(row, display_name))

    def _decrypt(self, row: Mapping[str, Any], display_name: str) -> Connection:
        try:
            access = self._cipher.decrypt(row.get("access_token_encrypted"))
            refresh = self._cipher.decrypt(row.get("refresh_token_encrypted"))
            app_password = self._cipher.decrypt(row.get("wordpress_app_password_encrypted"))
        except DamagedTokenError:
            raise InvalidPostError(
                f"The saved {display_name} connection is damaged (its login cannot be read): "
                "reconnect the account in the app, then reschedule this post."
            ) from None
        if not access and not app_password:
            raise InvalidPostError(
                f"The {display_name} connection has no saved login: reconnect the account in the app, "
                "then reschedule this post."
            )
        expires = row.get("token_expires_at")
        try:
            expires_at = parse_timestamp(expires, "token_expires_at") if expires else None
        except ValueError:
            expires_at = None  # unreliable (docs/data-model.md); adapters refresh on a 401 anyway
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

    def prime(self, rows: list[dict[str, Any]]) -> None:
        """Decrypt the run's connections once, up front: their secrets are masked from the first
        line on, the masking pattern is built once, and posts reuse the decrypted connection.
        Damaged ones are left for their posts to report."""
        for row in rows:
            try:
                self.connection(row, str(row.get("platform") or "platform"))
            except InvalidPostError:
                continue

    def verify_key(self, rows: list[dict[str, Any]]) -> None:
        """Stop the run (EncryptionKeyError) when ENCRYPTION_KEY decrypts no stored token at all.

        Called before anything is claimed. A Fernet token that does not decrypt is a damaged
        connection when others do decrypt: then only that connection's posts fail. Only when
        not one decrypts, among the run's connections and a sample of all active ones, is the
        key itself taken to be wrong.
        """
        values = [row.get("access_token_encrypted") for row in rows]
        if not self._cipher.key_is_wrong(values):
            return
        if self._cipher.key_is_wrong(values + self._store.token_sample(SAMPLE_SIZE)):
            raise EncryptionKeyError(
                "ENCRYPTION_KEY cannot decrypt the stored platform tokens: it is not the key the app "
                "encrypted them with. Set the app's key in .env; no post was changed."
            )

    # ---- refreshes (services.platforms.base.TokenVault) ------------------------------------------
    def refresh(self, connection: Connection, exchange: Callable[[Connection], TokenUpdate]) -> Connection:
        """Refresh `connection`'s token once, serialised per connection; see TokenVault."""
        with self._local_lock(connection.id), self._database_lock(connection):
            stored = self._reread(connection)
            if _tokens(stored) != _tokens(connection):
                log.info("connection %s: token already refreshed by another run; using it", connection.id)
                return self._remember(stored)
            try:
                update = exchange(stored)
            except AuthError:
                again = self._reread(connection)
                if _tokens(again) != _tokens(stored):
                    log.info(
                        "connection %s: refresh refused, but another run refreshed it; using that",
                        connection.id,
                    )
                    return self._remember(again)
                raise
            return self.save(stored, update)

    def save(self, connection: Connection, update: TokenUpdate) -> Connection:
        """Store refreshed tokens, encrypted, and use them for the connection's next posts this run.

        Retried, then StoreError: a rotated token must never be used unsaved (X invalidates the
        previous refresh token, so an unsaved pair would be a lost connection).
        """
        encrypted = (
            self._cipher.encrypt(update.access_token),
            self._cipher.encrypt(update.refresh_token) if update.refresh_token else None,
        )
        for delay in (*SAVE_RETRY_DELAYS, None):
            try:
                self._store.save_tokens(connection.id, *encrypted, update.expires_at, self._now())
                break
            except StoreError as exc:
                if delay is None:
                    log.error(
                        "connection %s: a refreshed token could not be stored (%s); if the platform rotates "
                        "refresh tokens the user must reconnect",
                        connection.id,
                        exc,
                    )
                    raise
                log.warning(
                    "connection %s: storing the refreshed token failed (%s); retrying", connection.id, exc
                )
                self._sleep(delay)
        return self._remember(
            replace(
                connection,
                access_token=update.access_token,
                refresh_token=update.refresh_token or connection.refresh_token,
                token_expires_at=update.expires_at,
            )
        )

    def forget(self, connection_id: str) -> None:
        """Drop what this run knows of a connection (it was disconnected)."""
        with self._guard:
            self._known.pop(connection_id, None)

    def _remember(self, connection: Connection) -> Connection:
        with self._guard:
            self._known[connection.id] = connection
        return connection

    def _reread(self, connection: Connection) -> Connection:
        row = self._store.connection(connection.id)
        if row is None:
            return connection
        try:
            return self._decrypt(row, connection.platform)
        except InvalidPostError:
            return connection

    @contextmanager
    def _local_lock(self, connection_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(connection_id, threading.Lock())
        with lock:
            yield

    @contextmanager
    def _database_lock(self, connection: Connection) -> Iterator[None]:
        deadline = self._monotonic() + LOCK_WAIT_S
        params = {"p_connection_id": connection.id, "p_holder": self._holder}
        while not self._store.rpc("publisher_lock_connection", {**params, "p_seconds": LOCK_SECONDS}):
            if self._monotonic() > deadline:
                raise RetryableError(
                    connection.platform,
                    "Another server is renewing this account's login right now; the post will be tried again "
                    "shortly. Nothing was published.",
                    detail=f"connection {connection.id} refresh lock held elsewhere",
                )
            self._sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            try:
                self._store.rpc("publisher_unlock_connection", params)
            except StoreError as exc:
                log.warning("connection %s: refresh lock not released (%s); it runs out", connection.id, exc)


def _tokens(connection: Connection) -> tuple[str, str | None]:
    return connection.access_token, connection.refresh_token


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
