"""What the operator commands read (find_test_user.py, `status`, `check`): reads only, apart from
the run's own reads and writes.

`check` calls the migration's functions with an id no row has, which proves that each exists with
the signature the run uses while matching nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from services.errors import StoreError
from services.posts import CREATED_CONTENT
from services.store import MIGRATION_MARK, Scope, Store

__all__ = ["MIGRATION_MARK", "OperatorReads"]

USERS_PER_PAGE = 50  # GoTrue's default page size
NO_SUCH_ID = "00000000-0000-0000-0000-000000000000"
# Connection columns an operator may see: everything except the secret columns.
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
_NOBODY = {"p_table": CREATED_CONTENT, "p_id": NO_SUCH_ID, "p_run_id": "check"}
# Each function of sql/migration.sql the run calls, with harmless arguments.
MIGRATION_PROBES: dict[str, dict[str, Any]] = {
    "publisher_claim_batch": {
        "p_table": CREATED_CONTENT,
        "p_ids": [],
        "p_run_id": "check",
        "p_lease_seconds": 60,
        "p_user_id": None,
    },
    "publisher_note": {**_NOBODY, "p_patch": {}},
    "publisher_renew": {"p_run_id": "check", "p_created_content": [], "p_content_posts": []},
    "publisher_mark_published": {
        **_NOBODY,
        "p_platform": "facebook",
        "p_post_id": "check",
        "p_post_url": None,
        "p_notes": {},
    },
    "publisher_mark_failed": {**_NOBODY, "p_error": "check"},
    "publisher_mark_expired": {**_NOBODY, "p_reason": "check"},
    "publisher_mark_unconfirmed": {**_NOBODY, "p_message": "check", "p_expired": False},
    "publisher_defer": {
        **_NOBODY,
        "p_next_attempt_at": "2000-01-01T00:00:00+00:00",
        "p_reason": "check",
        "p_count_attempt": False,
    },
    "publisher_release": _NOBODY,
    "publisher_touch_connections": {"p_ids": []},
    "publisher_unlock_connection": {"p_connection_id": NO_SUCH_ID, "p_holder": "check"},
}


def _list_users(admin: Any, *, page: int, per_page: int) -> list[Any]:
    return list(admin.list_users(page=page, per_page=per_page))


class OperatorReads:
    """Read-only queries for the operator commands."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _posts(self, table: str, columns: str, scope: Scope) -> Any:
        """A select on a post table limited to the scope's user (content_posts via the campaign)."""
        if table == CREATED_CONTENT:
            query = self._store.table(table).select(columns)
            return query.eq("user_id", scope.user_id) if scope.user_id else query
        if scope.user_id:
            query = self._store.table(table).select(f"{columns},content_campaigns!inner(user_id)")
            return query.eq("content_campaigns.user_id", scope.user_id)
        return self._store.table(table).select(columns)

    # ---- find_test_user.py -------------------------------------------------------------------
    def find_user(self, email: str, per_page: int = USERS_PER_PAGE) -> tuple[dict[str, str] | None, int]:
        """The Auth user with this email (any case) and how many users were searched to find it.

        The client drops GoTrue's total count, so pages (1-based) are read until a short one.
        """
        wanted = email.strip().lower()
        searched = 0
        page = 1
        while True:
            users: list[Any] = self._store.auth_call(
                "list users", partial(_list_users, page=page, per_page=per_page)
            )
            searched += len(users)
            for user in users:
                if (user.email or "").strip().lower() == wanted:
                    return {"id": str(user.id), "email": str(user.email)}, searched
            if len(users) < per_page:
                return None, searched
            page += 1

    def user_connections(self, user_id: str) -> list[dict[str, Any]]:
        """Every connection of the user, active or not, without its secret columns."""
        rows = self._store.every(
            "read platform_connections",
            lambda: (
                self._store.table("platform_connections").select(CONNECTION_COLUMNS).eq("user_id", user_id)
            ),
        )
        rows.sort(key=lambda row: str(row.get("connected_at") or ""), reverse=True)
        return sorted(rows, key=lambda row: str(row.get("platform") or ""))

    def count_scheduled(self, table: str, user_id: str) -> int:
        """How many of the user's posts in `table` are scheduled."""
        scope = Scope(user_id=user_id)
        return len(
            self._store.every(
                f"count {table}", lambda: self._posts(table, "id", scope).eq("status", "scheduled")
            )
        )

    def post_states(self, table: str, post_ids: tuple[str, ...]) -> dict[str, str]:
        """The status of each of these posts that exists (for `--post-id` reports)."""
        if not post_ids:
            return {}
        rows = self._store.every(
            f"read {table}",
            lambda: self._store.table(table).select("id,status").in_("id", list(post_ids)),
        )
        return {str(row["id"]): str(row.get("status") or "") for row in rows}

    # ---- status ------------------------------------------------------------------------------
    def scheduled_posts(self, table: str, scope: Scope) -> list[dict[str, Any]]:
        """id and platform of every scheduled post in scope, due or not."""
        return self._store.every(
            f"read {table}", lambda: self._posts(table, "id,platform", scope).eq("status", "scheduled")
        )

    def recent(self, table: str, outcome: str, since: datetime, scope: Scope) -> list[dict[str, Any]]:
        """id and platform of the posts published, failed, expired or left unconfirmed since `since`.

        Failures, expiries and unconfirmed outcomes are found by the metadata stamps the migration
        writes in one fixed UTC format, so comparing them as text compares them as times.
        """
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

        def build() -> Any:
            query = self._posts(table, "id,platform", scope)
            if outcome == "published":
                return query.eq("status", "published").gte("published_at", stamp)
            key = {
                "failed": "publish_failed_at",
                "expired": "expired_at",
                "unconfirmed": "_publish_unconfirmed_at",
            }[outcome]
            return query.gte(f"metadata->>{key}", stamp)

        return self._store.every(f"read {table}", build)

    def unconfirmed(self, table: str, scope: Scope) -> list[dict[str, Any]]:
        """Posts whose outcome is still "may be live": id, platform, status, when and the message."""
        columns = (
            "id,platform,status,metadata->>_publish_unconfirmed_at,metadata->>publish_error,"
            "metadata->>expired_reason"
        )
        return self._store.every(
            f"read {table}",
            lambda: (
                self._posts(table, columns, scope)
                .neq("status", "published")
                .not_.is_("metadata->>_publish_unconfirmed_at", "null")
            ),
        )

    def held_claims(self, table: str, scope: Scope) -> list[dict[str, Any]]:
        """Posts a run holds right now (or a crashed run left): id, platform, claim time and run."""
        columns = "id,platform,metadata->>_publishing_at,metadata->>_publishing_run"
        return self._store.every(
            f"read {table}",
            lambda: self._posts(table, columns, scope).eq("metadata->>_publishing", "true"),
        )

    # ---- check -------------------------------------------------------------------------------
    def verify_admin_access(self) -> None:
        """Raise StoreError unless the key may use the Auth admin API (only the service key may)."""
        self._store.auth_call("list users", lambda admin: admin.list_users(page=1, per_page=1))

    def missing_columns(self) -> list[str]:
        """A sentence for every table or column the publisher needs that the database lacks."""
        problems = []
        for table, columns in REQUIRED_COLUMNS.items():
            try:
                self._store.sample(f"read {table}", self._store.table(table).select(columns))
            except StoreError as exc:
                problems.append(f"{table}: {exc}")
        return problems

    def migration_version(self) -> str | None:
        """The installed migration's version (None when the database predates the function)."""
        try:
            version = self._store.rpc("publisher_migration_version", {})
        except StoreError:
            return None
        return str(version) if version else None

    def missing_functions(self) -> list[str]:
        """A sentence for every function of sql/migration.sql that cannot be called as the run does."""
        problems = []
        for name, params in MIGRATION_PROBES.items():
            try:
                self._store.rpc(name, params)
            except StoreError as exc:
                problems.append(f"{name}: {exc}")
        return problems

    def max_rows(self) -> int | None:
        """The API's effective "Max rows" setting, measured (None when it cannot be measured)."""
        try:
            rows = self._store.rpc("publisher_rows_probe", {})
        except StoreError:
            return None
        return len(rows) if isinstance(rows, list) else None

    def active_connections(self) -> list[dict[str, Any]]:
        """Every active connection with its encrypted secrets (for the decryption check)."""
        columns = (
            "id,user_id,platform,page_id,page_name,access_token_encrypted,refresh_token_encrypted,"
            "wordpress_app_password_encrypted"
        )
        return self._store.every(
            "read platform_connections",
            lambda: self._store.table("platform_connections").select(columns).eq("is_active", True),
        )

    def youtube_private_uploads(self, since: datetime, scope: Scope) -> list[dict[str, Any]]:
        """Posts published to YouTube since `since` whose privacy YouTube changed from what was asked.

        The YouTube adapter records `youtube_privacy_requested` only when YouTube applied another
        privacy (an unverified Google project makes every upload private).
        """
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        found: list[dict[str, Any]] = []
        for table in (CREATED_CONTENT, "content_posts"):
            found += self._store.every(
                f"read {table}",
                lambda table=table: (
                    self._posts(table, "id,platform", scope)  # type: ignore[misc]
                    .eq("status", "published")
                    .gte("published_at", stamp)
                    .not_.is_("metadata->>youtube_privacy_requested", "null")
                ),
            )
        return found
