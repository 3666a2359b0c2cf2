"""The database, through supabase-py: the only module that uses the supabase client.

Reads are paged with a keyset (order by id, `id > last`), because Supabase silently caps every
read at 1,000 rows and offset paging over rows being claimed skips some. Every write is one
SQL function from sql/migration.sql (one statement, merged on the server, conditional on this
run's claim). Driver and transport errors become `StoreError` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod
from supabase import Client, ClientOptions, create_client

from services.config import Config
from services.errors import StoreError
from services.posts import CREATED_CONTENT
from services.redaction import scrub

PAGE_SIZE = 1000  # Supabase's default max-rows: a page never asks for more than the server gives
_ID_CHUNK = 100  # ids per `in.(...)` filter, to keep URLs well under proxy limits
MIGRATION_MARK = "content publisher migration v1"

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
    """Reads candidates and writes outcomes for one run."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (APIError, httpx.HTTPError) as exc:
            raise StoreError(f"Database request failed ({what}): {_describe(exc)}") from None

    # ---- reads ---------------------------------------------------------------------------------
    def candidates(self, table: str, now: datetime, tomorrow: str, scope: Scope) -> Iterator[dict[str, Any]]:
        """Every scheduled row of `table` that can be due at `now`, in id order, page by page."""
        last: str | None = None
        while True:
            page = self._call(
                f"read {table}", partial(self._candidate_page, table, now, tomorrow, scope, last)
            )
            yield from page
            if len(page) < PAGE_SIZE:
                return
            last = str(page[-1]["id"])

    def _candidate_page(
        self, table: str, now: datetime, tomorrow: str, scope: Scope, after: str | None
    ) -> list[dict[str, Any]]:
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
        if after is not None:
            query = query.gt("id", after)
        return _rows(query.order("id").limit(PAGE_SIZE).execute().data)

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

    def connections(self, user_id: str, platform: str) -> list[dict[str, Any]]:
        """The user's active connections for a platform, most recently connected first."""
        query = (
            self._client.table("platform_connections")
            .select("*")
            .eq("user_id", user_id)
            .eq("platform", platform)
            .eq("is_active", True)
            .order("connected_at", desc=True, nullsfirst=False)
        )
        return self._call("read platform_connections", lambda: _rows(query.execute().data))

    # ---- claim and outcomes (sql/migration.sql) ------------------------------------------------
    def _rpc(self, fn: str, params: Mapping[str, Any]) -> Any:
        return self._call(fn, lambda: self._client.rpc(fn, dict(params)).execute().data)

    def claim(
        self, table: str, ids: Sequence[str], run_id: str, lease_seconds: int, user_id: str | None
    ) -> list[dict[str, Any]]:
        """Claim the posts among `ids` that are still scheduled and free; return those won."""
        rows = self._rpc(
            "publisher_claim",
            {
                "p_table": table,
                "p_ids": list(ids),
                "p_run_id": run_id,
                "p_lease_seconds": lease_seconds,
                "p_user_id": user_id,
            },
        )
        return _rows(rows)

    def note(self, table: str, post_id: str, run_id: str, patch: Mapping[str, Any]) -> bool:
        """Merge `patch` into the metadata of a post this run holds."""
        return bool(
            self._rpc(
                "publisher_note",
                {"p_table": table, "p_id": post_id, "p_run_id": run_id, "p_patch": dict(patch)},
            )
        )

    def mark_published(
        self, table: str, post_id: str, run_id: str, platform: str, platform_post_id: str, url: str | None
    ) -> bool:
        """Record a published post (status, ids, URL) and drop the claim."""
        return bool(
            self._rpc(
                "publisher_mark_published",
                {
                    "p_table": table,
                    "p_id": post_id,
                    "p_run_id": run_id,
                    "p_platform": platform,
                    "p_post_id": platform_post_id,
                    "p_post_url": url,
                },
            )
        )

    def mark_failed(self, table: str, post_id: str, run_id: str, error: str) -> bool:
        """Put the post back to draft with a user-readable error and drop the claim."""
        return bool(
            self._rpc(
                "publisher_mark_failed",
                {"p_table": table, "p_id": post_id, "p_run_id": run_id, "p_error": error},
            )
        )

    def mark_expired(self, table: str, post_id: str, run_id: str, reason: str) -> bool:
        """Mark the post expired (too late to publish) and drop the claim."""
        return bool(
            self._rpc(
                "publisher_mark_expired",
                {"p_table": table, "p_id": post_id, "p_run_id": run_id, "p_reason": reason},
            )
        )

    def defer(
        self, table: str, post_id: str, run_id: str, not_before: datetime, reason: str, count_attempt: bool
    ) -> bool:
        """Keep the post scheduled for a later run and drop the claim."""
        return bool(
            self._rpc(
                "publisher_defer",
                {
                    "p_table": table,
                    "p_id": post_id,
                    "p_run_id": run_id,
                    "p_next_attempt_at": not_before.isoformat(),
                    "p_reason": reason,
                    "p_count_attempt": count_attempt,
                },
            )
        )

    def release(self, table: str, post_id: str, run_id: str) -> bool:
        """Drop the claim without changing anything else."""
        return bool(self._rpc("publisher_release", {"p_table": table, "p_id": post_id, "p_run_id": run_id}))

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

    def touch_posted(self, connection_id: str, now: datetime) -> None:
        """Record when the connection last published (the app shows it)."""
        self._update_connection(connection_id, {"last_posted_at": _naive_utc(now)})


def _naive_utc(moment: datetime) -> str:
    # platform_connections uses `timestamp` without zone; the app stores UTC wall time there.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()
