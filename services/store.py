"""The database, through supabase-py: the only module that holds the supabase client.

It owns the run's reads (candidates, time zones, connections) and the connection writes, and
gives the two modules built on it their primitives: `rpc` for services.ledger (every write about
a post is one SQL function of sql/migration.sql) and `table`/`every`/`auth_call` for
services.operator_reads. Reads are paged with a keyset (order by id, `id > last`) until an empty
page, because Supabase silently caps every read (1,000 rows by default, less if a project says
so) and offset paging over rows being claimed skips some. Driver and transport errors become
`StoreError` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthError

from services.config import Config
from services.errors import StoreError
from services.posts import CREATED_CONTENT
from services.redaction import scrub

PAGE_SIZE = 1000  # Supabase's default max-rows: a page never asks for more than the server gives
_ID_CHUNK = 100  # ids per `in.(...)` filter, to keep URLs well under proxy limits
MIGRATION_MARK = "content publisher migration v2"

T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """Which rows a run may see: all, one test user's, or given post ids."""

    user_id: str | None = None
    post_ids: tuple[str, ...] = ()


def make_client(config: Config, http: httpx.Client | None = None) -> Client:
    """A supabase client with an exact timeout (numeric timeouts are truncated by the library)."""
    timeout = httpx.Timeout(config.supabase_timeout_s, connect=min(5.0, config.supabase_timeout_s))
    options = ClientOptions(httpx_client=http or httpx.Client(timeout=timeout))
    try:
        return create_client(config.supabase_url, config.supabase_key, options=options)
    except Exception as exc:  # noqa: BLE001 (the library raises several unrelated types here)
        raise StoreError(f"Cannot create the Supabase client: {scrub(str(exc))}") from None


def _rows(data: Any) -> list[dict[str, Any]]:
    """The JSON rows of a response; anything that is not a row object is dropped."""
    return [row for row in data or [] if isinstance(row, dict)] if isinstance(data, list) else []


def _describe(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        parts = [str(exc.code or ""), str(exc.message or "")]
        return scrub(" ".join(p for p in parts if p) or "database API error")
    return scrub(f"{type(exc).__name__}: {exc}")


class Store:
    """The database API: the run's reads, connection writes, and the primitives others build on."""

    def __init__(self, client: Client) -> None:
        self._client = client
        # supabase-py builds its PostgREST client lazily on first use; building it here, before
        # any lane thread exists, means the threads only ever share a finished, thread-safe
        # object (each query builder they make is their own).
        _ = client.postgrest

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (APIError, httpx.HTTPError) as exc:
            raise StoreError(f"Database request failed ({what}): {_describe(exc)}") from None

    # ---- reads ---------------------------------------------------------------------------------
    def candidates(self, table: str, now: datetime, tomorrow: str, scope: Scope) -> list[dict[str, Any]]:
        """Every scheduled row of `table` that can be due at `now`, in id order (keyset pages)."""
        return self.every(f"read {table}", partial(self._candidate_query, table, now, tomorrow, scope))

    def _candidate_query(self, table: str, now: datetime, tomorrow: str, scope: Scope) -> Any:
        if table == CREATED_CONTENT:
            query = self._client.table(table).select("*")
            if scope.user_id:
                query = query.eq("user_id", scope.user_id)
            if not scope.post_ids:
                stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                query = query.or_(
                    f'scheduled_at.lte."{stamp}",'
                    f"and(scheduled_at.is.null,or(scheduled_date.lte.{tomorrow},scheduled_date.is.null))"
                )
        else:
            # The owner lives on the campaign. Test mode needs !inner so the filter drops other
            # users' posts; otherwise a plain embed keeps posts whose campaign lost its owner, so
            # they get an error instead of being silently ignored.
            embed = "content_campaigns!inner(user_id)" if scope.user_id else "content_campaigns(user_id)"
            query = self._client.table(table).select(f"*,{embed}")
            if scope.user_id:
                query = query.eq("content_campaigns.user_id", scope.user_id)
            if not scope.post_ids:
                query = query.lte("scheduled_date", tomorrow)
        query = query.eq("status", "scheduled")
        if scope.post_ids:
            query = query.in_("id", list(scope.post_ids))
        return query

    def timezones(self, user_ids: Sequence[str]) -> dict[str, Any]:
        """profiles.timezone of each user (missing profiles are simply absent)."""
        zones: dict[str, Any] = {}
        unique = sorted(set(user_ids))
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            rows = self._call("read profiles", partial(self._profiles, chunk))
            zones.update({str(row["id"]): row.get("timezone") for row in rows})
        return zones

    def _profiles(self, ids: list[str]) -> list[dict[str, Any]]:
        return _rows(self._client.table("profiles").select("id,timezone").in_("id", ids).execute().data)

    def connections_of(self, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every active connection of these users (read once per run), most recently connected first."""
        found: list[dict[str, Any]] = []
        unique = sorted(set(user_ids))
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            found += self.every(
                "read platform_connections",
                lambda chunk=chunk: (  # type: ignore[misc]
                    self._client.table("platform_connections")
                    .select("*")
                    .in_("user_id", chunk)
                    .eq("is_active", True)
                ),
            )
        return sorted(found, key=lambda row: str(row.get("connected_at") or ""), reverse=True)

    def token_sample(self, size: int) -> list[str | None]:
        """Encrypted access tokens of up to `size` active connections (to test the key on)."""
        query = (
            self._client.table("platform_connections")
            .select("access_token_encrypted")
            .eq("is_active", True)
            .limit(size)
        )
        rows = self._call("read platform_connections", partial(_execute_rows, query))
        return [row.get("access_token_encrypted") for row in rows]

    def connection(self, connection_id: str) -> dict[str, Any] | None:
        """One connection row as stored now (a token refresh re-reads it), or None if it is gone."""
        query = self._client.table("platform_connections").select("*").eq("id", connection_id)
        rows = self._call("read platform_connections", partial(_execute_rows, query))
        return rows[0] if rows else None

    # ---- the primitives the ledger and the operator reads build on -----------------------
    def rpc(self, fn: str, params: Mapping[str, Any]) -> Any:
        """Call one SQL function of sql/migration.sql; its JSON result."""
        return self._call(fn, lambda: self._client.rpc(fn, dict(params)).execute().data)

    def table(self, name: str) -> Any:
        """A query builder on one table (for read-only queries of services.operator_reads)."""
        return self._client.table(name)

    def auth_call(self, what: str, fn: Callable[[Any], T]) -> T:
        """Call the Auth admin API (`fn` gets the admin client); errors become StoreError."""
        try:
            return fn(self._client.auth.admin)
        except (AuthError, httpx.HTTPError) as exc:
            raise StoreError(f"Auth admin request failed ({what}): {_describe(exc)}") from None

    def sample(self, what: str, query: Any) -> list[dict[str, Any]]:
        """At most one row of a query: proves the columns exist without reading a table."""
        return self._call(what, partial(_execute_rows, query.limit(1)))

    def every(self, what: str, build: Callable[[], Any]) -> list[dict[str, Any]]:
        """All rows of a query, in keyset pages by id, until an empty page.

        An empty page, not a short one, ends the read: a project may set "Max rows" below
        PAGE_SIZE, and then every page is short.
        """
        found: list[dict[str, Any]] = []
        last: str | None = None
        while True:
            query = build().order("id").limit(PAGE_SIZE)
            if last is not None:
                query = query.gt("id", last)
            page = self._call(what, partial(_execute_rows, query))
            if not page:
                return found
            found.extend(page)
            last = str(page[-1]["id"])

    # ---- connections ---------------------------------------------------------------------------
    def _update_connection(self, connection_id: str, values: Mapping[str, Any]) -> None:
        self._call(
            "update platform_connections",
            lambda: (
                self._client.table("platform_connections")
                .update(dict(values), returning=ReturnMethod.minimal)
                .eq("id", connection_id)
                .execute()
            ),
        )

    def disconnect(self, connection_id: str, status: str, now: datetime) -> None:
        """Mark a connection inactive after a recognised auth error."""
        self._update_connection(
            connection_id,
            {
                "is_active": False,
                "connection_status": status,
                "updated_at": _naive_utc(now),
            },
        )

    def save_tokens(
        self,
        connection_id: str,
        access_encrypted: str,
        refresh_encrypted: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        """Store refreshed tokens (already encrypted)."""
        values: dict[str, Any] = {
            "access_token_encrypted": access_encrypted,
            "token_expires_at": _naive_utc(expires_at) if expires_at else None,
            "last_token_refresh": _naive_utc(now),
            "updated_at": _naive_utc(now),
        }
        if refresh_encrypted is not None:
            values["refresh_token_encrypted"] = refresh_encrypted
        self._update_connection(connection_id, values)

    def touch_connections(self, connection_ids: Sequence[str]) -> None:
        """Record that these connections just published (the app shows it): one call for many."""
        if connection_ids:
            self.rpc("publisher_touch_connections", {"p_ids": sorted(set(connection_ids))})


def _naive_utc(moment: datetime) -> str:
    # platform_connections uses `timestamp` without zone; the app stores UTC wall time there.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _execute_rows(query: Any) -> list[dict[str, Any]]:
    return _rows(query.execute().data)
