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
from supabase_auth.errors import AuthError

from services.config import Config
from services.errors import StoreError
from services.posts import CREATED_CONTENT
from services.redaction import scrub

PAGE_SIZE = 1000  # Supabase's default max-rows: a page never asks for more than the server gives
_ID_CHUNK = 100  # ids per `in.(...)` filter, to keep URLs well under proxy limits
MIGRATION_MARK = "content publisher migration v1"

T = TypeVar("T")

# What the operator commands (find_test_user.py, `status`, `check`) read. They change no row:
# `check` calls the migration's functions with an id no row has, which proves that each exists
# with the signature the run uses while matching nothing.

USERS_PER_PAGE = 50  # GoTrue's default page size
NO_SUCH_ID = "00000000-0000-0000-0000-000000000000"
# Connection columns an operator may see: everything except the two token columns.
CONNECTION_COLUMNS = (
    "id,user_id,platform,page_id,page_name,page_username,account_type,organization_id,"
    "is_active,connection_status,connected_at"
)
# Columns the publisher relies on, per table; the migration adds the ones the app never published.
REQUIRED_COLUMNS = {
    "created_content": (
        "id,user_id,platform,content_type,content,status,metadata,"
        "scheduled_at,scheduled_date,scheduled_time,published_at,channel_post_id"
    ),
    "content_posts": (
        "id,campaign_id,platform,post_type,content,scheduled_date,scheduled_time,status,metadata,"
        "primary_image_url,published_at"
    ),
    "content_campaigns": "id,user_id",
    "profiles": "id,timezone",
    "platform_connections": f"{CONNECTION_COLUMNS},access_token_encrypted,refresh_token_encrypted",
}
# Each function of sql/migration.sql with harmless arguments (an empty id list, an id no row has).
MIGRATION_PROBES: dict[str, dict[str, Any]] = {
    "publisher_claim": {
        "p_table": CREATED_CONTENT,
        "p_ids": [],
        "p_run_id": "check",
        "p_lease_seconds": 1,
        "p_user_id": None,
    },
    "publisher_note": {"p_table": CREATED_CONTENT, "p_id": NO_SUCH_ID, "p_run_id": "check", "p_patch": {}},
    "publisher_mark_published": {
        "p_table": CREATED_CONTENT,
        "p_id": NO_SUCH_ID,
        "p_run_id": "check",
        "p_platform": "facebook",
        "p_post_id": "check",
        "p_post_url": None,
    },
    "publisher_mark_failed": {
        "p_table": CREATED_CONTENT,
        "p_id": NO_SUCH_ID,
        "p_run_id": "check",
        "p_error": "check",
    },
    "publisher_mark_expired": {
        "p_table": CREATED_CONTENT,
        "p_id": NO_SUCH_ID,
        "p_run_id": "check",
        "p_reason": "check",
    },
    "publisher_defer": {
        "p_table": CREATED_CONTENT,
        "p_id": NO_SUCH_ID,
        "p_run_id": "check",
        "p_next_attempt_at": "2000-01-01T00:00:00+00:00",
        "p_reason": "check",
        "p_count_attempt": False,
    },
    "publisher_release": {"p_table": CREATED_CONTENT, "p_id": NO_SUCH_ID, "p_run_id": "check"},
}


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

    # ---- operator commands: find_test_user.py, `status`, `check` (reads only) ----------------
    def _auth_call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (AuthError, httpx.HTTPError) as exc:
            raise StoreError(f"Auth admin request failed ({what}): {_describe(exc)}") from None

    def _every(self, what: str, build: Callable[[], Any]) -> list[dict[str, Any]]:
        """All rows of a query, in keyset pages of PAGE_SIZE (reads are silently capped)."""
        found: list[dict[str, Any]] = []
        last: str | None = None
        while True:
            query = build().order("id").limit(PAGE_SIZE)
            if last is not None:
                query = query.gt("id", last)
            page = self._call(what, partial(_execute_rows, query))
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found
            last = str(page[-1]["id"])

    def _posts(self, table: str, columns: str, scope: Scope) -> Any:
        """A select on a post table limited to the scope's user (content_posts via the campaign)."""
        if table == CREATED_CONTENT:
            query = self._client.table(table).select(columns)
            return query.eq("user_id", scope.user_id) if scope.user_id else query
        if scope.user_id:
            query = self._client.table(table).select(f"{columns},content_campaigns!inner(user_id)")
            return query.eq("content_campaigns.user_id", scope.user_id)
        return self._client.table(table).select(columns)

    # ---- find_test_user.py -------------------------------------------------------------------
    def find_user(self, email: str, per_page: int = USERS_PER_PAGE) -> tuple[dict[str, str] | None, int]:
        """The Auth user with this email (any case) and how many users were searched to find it.

        The client drops GoTrue's total count, so pages (1-based) are read until a short one.
        """
        wanted = email.strip().lower()
        searched = 0
        page = 1
        while True:
            users = self._auth_call(
                "list users", partial(self._client.auth.admin.list_users, page=page, per_page=per_page)
            )
            searched += len(users)
            for user in users:
                if (user.email or "").strip().lower() == wanted:
                    return {"id": str(user.id), "email": str(user.email)}, searched
            if len(users) < per_page:
                return None, searched
            page += 1

    def user_connections(self, user_id: str) -> list[dict[str, Any]]:
        """Every connection of the user, active or not, without its token columns."""
        query = (
            self._client.table("platform_connections")
            .select(CONNECTION_COLUMNS)
            .eq("user_id", user_id)
            .order("platform")
            .order("connected_at", desc=True, nullsfirst=False)
        )
        return self._call("read platform_connections", partial(_execute_rows, query))

    def count_scheduled(self, table: str, user_id: str) -> int:
        """How many of the user's posts in `table` are scheduled."""
        scope = Scope(user_id=user_id)
        return len(
            self._every(f"count {table}", lambda: self._posts(table, "id", scope).eq("status", "scheduled"))
        )

    # ---- status ------------------------------------------------------------------------------
    def scheduled_posts(self, table: str, scope: Scope) -> list[dict[str, Any]]:
        """id and platform of every scheduled post in scope, due or not."""
        return self._every(
            f"read {table}", lambda: self._posts(table, "id,platform", scope).eq("status", "scheduled")
        )

    def recent(self, table: str, outcome: str, since: datetime, scope: Scope) -> list[dict[str, Any]]:
        """id and platform of the posts published, failed or expired since `since`.

        Failures and expiries are found by the metadata stamps the migration writes in one fixed
        UTC format, so comparing them as text compares them as times.
        """
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

        def build() -> Any:
            query = self._posts(table, "id,platform", scope)
            if outcome == "published":
                return query.eq("status", "published").gte("published_at", stamp)
            key = {"failed": "publish_failed_at", "expired": "expired_at"}[outcome]
            return query.gte(f"metadata->>{key}", stamp)

        return self._every(f"read {table}", build)

    def held_claims(self, table: str, scope: Scope) -> list[dict[str, Any]]:
        """Posts a run holds right now (or a crashed run left): id, platform, claim time and run."""
        columns = "id,platform,metadata->>_publishing_at,metadata->>_publishing_run"
        return self._every(
            f"read {table}", lambda: self._posts(table, columns, scope).eq("metadata->>_publishing", "true")
        )

    # ---- check -------------------------------------------------------------------------------
    def verify_admin_access(self) -> None:
        """Raise StoreError unless the key may use the Auth admin API (only the service key may)."""
        self._auth_call("list users", partial(self._client.auth.admin.list_users, page=1, per_page=1))

    def missing_columns(self) -> list[str]:
        """A sentence for every table or column the publisher needs that the database lacks."""
        problems = []
        for table, columns in REQUIRED_COLUMNS.items():
            query = self._client.table(table).select(columns).limit(1)
            try:
                self._call(f"read {table}", partial(_execute_rows, query))
            except StoreError as exc:
                problems.append(f"{table}: {exc}")
        return problems

    def migration_version(self) -> str | None:
        """The installed migration's version (None when the database predates the function)."""
        try:
            version = self._rpc("publisher_migration_version", {})
        except StoreError:
            return None
        return str(version) if version else None

    def missing_functions(self) -> list[str]:
        """A sentence for every function of sql/migration.sql that cannot be called as the run does."""
        problems = []
        for name, params in MIGRATION_PROBES.items():
            try:
                self._rpc(name, params)
            except StoreError as exc:
                problems.append(f"{name}: {exc}")
        return problems

    def active_connections(self) -> list[dict[str, Any]]:
        """Every active connection with its encrypted tokens (for the decryption check)."""
        columns = "id,user_id,platform,page_id,page_name,access_token_encrypted,refresh_token_encrypted"
        return self._every(
            "read platform_connections",
            lambda: self._client.table("platform_connections").select(columns).eq("is_active", True),
        )


def _naive_utc(moment: datetime) -> str:
    # platform_connections uses `timestamp` without zone; the app stores UTC wall time there.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _execute_rows(query: Any) -> list[dict[str, Any]]:
    return _rows(query.execute().data)
