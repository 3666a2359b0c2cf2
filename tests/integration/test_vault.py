"""The vault on real PostgreSQL: one token refresh per connection at a time across lanes and
servers, new tokens stored before use, and a rotated token found instead of a second refresh."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from devstack import seed
from devstack.stack import Stack
from services import vault as vault_module
from services.errors import AuthError, RetryableError
from services.platforms.base import Connection, TokenUpdate
from services.tokens import TokenCipher
from services.vault import Vault
from tests.integration.test_store import new_store

pytestmark = pytest.mark.integration


def new_vault(stack: Stack, holder: str) -> Vault:
    return Vault(
        new_store(stack), TokenCipher(stack.encryption_key), holder=holder, now=lambda: datetime.now(UTC)
    )


def x_connection(stack: Stack) -> tuple[str, dict[str, object]]:
    with stack.connect() as conn:
        user = seed.user(conn, "x@example.com")
        connection_id = seed.connection(
            conn,
            stack.encryption_key,
            user,
            "twitter",
            access_token="old-access",
            refresh_token="old-refresh",
        )
        row = conn.execute("SELECT * FROM platform_connections WHERE id = %s", (connection_id,)).fetchone()
        names = [d.name for d in conn.execute("SELECT * FROM platform_connections LIMIT 0").description or []]
    assert row is not None
    return connection_id, dict(zip(names, row, strict=True))


def stored_tokens(stack: Stack, connection_id: str) -> tuple[str, str]:
    fernet = Fernet(stack.encryption_key.encode())
    with stack.connect() as conn:
        row = conn.execute(
            "SELECT access_token_encrypted, refresh_token_encrypted FROM platform_connections WHERE id = %s",
            (connection_id,),
        ).fetchone()
    assert row is not None
    return fernet.decrypt(row[0].encode()).decode(), fernet.decrypt(row[1].encode()).decode()


def test_two_servers_with_four_lanes_each_refresh_a_rotating_token_once(stack: Stack):
    """Eight lanes on two servers hit an expired token at once: one exchange, all use its new pair."""
    connection_id, row = x_connection(stack)
    exchanges: list[str] = []
    guard = threading.Lock()

    def exchange(connection: Connection) -> TokenUpdate:
        with guard:
            exchanges.append(connection.refresh_token or "")
            number = len(exchanges)
        time.sleep(0.3)  # X takes its time; every other lane arrives meanwhile
        return TokenUpdate(access_token=f"new-access-{number}", refresh_token=f"new-refresh-{number}")

    servers = [new_vault(stack, "server-a"), new_vault(stack, "server-b")]
    results: list[Connection] = []
    barrier = threading.Barrier(8)

    def lane(vault: Vault) -> None:
        stale = vault.connection(row, "X")
        barrier.wait()
        fresh = vault.refresh(stale, exchange)
        with guard:
            results.append(fresh)

    threads = [threading.Thread(target=lane, args=(servers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert exchanges == ["old-refresh"]  # the spent refresh token was never used twice
    assert {(c.access_token, c.refresh_token) for c in results} == {("new-access-1", "new-refresh-1")}
    assert stored_tokens(stack, connection_id) == ("new-access-1", "new-refresh-1")


def test_a_refused_refresh_uses_the_token_another_server_stored(stack: Stack):
    """Refused with a spent refresh token, the vault re-reads the row and takes the rotated pair."""
    _, row = x_connection(stack)
    vault = new_vault(stack, "server-a")
    stale = vault.connection(row, "X")
    other = new_vault(stack, "server-b")

    def rotate_elsewhere_then_refuse(connection: Connection) -> TokenUpdate:
        other.save(connection, TokenUpdate(access_token="rotated-access", refresh_token="rotated-refresh"))
        raise AuthError("twitter", "Reconnect your X account.")

    fresh = vault.refresh(stale, rotate_elsewhere_then_refuse)
    assert (fresh.access_token, fresh.refresh_token) == ("rotated-access", "rotated-refresh")


def test_an_unchanged_row_after_a_refused_refresh_is_a_lost_connection(stack: Stack):
    """When nobody else rotated the token, the refusal stands (the connection must be reconnected)."""
    _, row = x_connection(stack)
    vault = new_vault(stack, "server-a")

    def refuse(connection: Connection) -> TokenUpdate:
        raise AuthError("twitter", "Reconnect your X account.")

    with pytest.raises(AuthError):
        vault.refresh(vault.connection(row, "X"), refuse)


def test_a_lock_held_elsewhere_defers_instead_of_refreshing(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    """If another server holds the connection's refresh lock too long, the post waits; nothing is sent."""
    connection_id, row = x_connection(stack)
    monkeypatch.setattr(vault_module, "LOCK_WAIT_S", 0.3)
    store = new_store(stack)
    assert store.rpc(
        "publisher_lock_connection",
        {"p_connection_id": connection_id, "p_holder": "elsewhere", "p_seconds": 60},
    )
    vault = new_vault(stack, "server-a")
    with pytest.raises(RetryableError, match="Another server"):
        vault.refresh(vault.connection(row, "X"), lambda _: TokenUpdate(access_token="never"))
    assert stored_tokens(stack, connection_id) == ("old-access", "old-refresh")
