"""Rows as the content app writes them, for tests and the sandbox.

Each helper inserts one row with the app's defaults and returns its id; keyword arguments
override any column. Tokens are encrypted with the stack's key exactly as the app does.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from psycopg.types.json import Jsonb


def _insert(conn: psycopg.Connection[Any], table: str, values: dict[str, Any]) -> str:
    columns = list(values)
    params = [Jsonb(v) if isinstance(v, dict | list) and c == "metadata" else v for c, v in values.items()]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    row = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id", params).fetchone()
    assert row is not None  # noqa: S101 (RETURNING always yields the row)
    return str(row[0])


def user(conn: psycopg.Connection[Any], email: str, timezone: str | None = None, **profile: Any) -> str:
    """An auth user with a profile (timezone as onboarding writes it)."""
    user_id = _insert(conn, "auth.users", {"email": email})
    _insert(conn, "public.profiles", {"id": user_id, "timezone": timezone, **profile})
    return user_id


def connection(
    conn: psycopg.Connection[Any],
    encryption_key: str,
    user_id: str,
    platform: str,
    *,
    access_token: str | None,
    refresh_token: str | None = "",
    plaintext: bool = False,
    **columns: Any,
) -> str:
    """A platform connection with its tokens encrypted (or stored as legacy plaintext)."""
    fernet = Fernet(encryption_key.encode())

    def seal(token: str | None) -> str | None:
        if token is None:
            return None
        return token if plaintext else fernet.encrypt(token.encode()).decode()

    values = {
        "user_id": user_id,
        "platform": platform,
        "page_id": columns.pop("page_id", f"{platform}-page-1"),
        "page_name": columns.pop("page_name", f"My {platform.capitalize()} account"),
        "access_token_encrypted": seal(access_token),
        "refresh_token_encrypted": seal(refresh_token),
        **columns,
    }
    return _insert(conn, "public.platform_connections", values)


def wordpress_connection(
    conn: psycopg.Connection[Any],
    encryption_key: str,
    user_id: str,
    *,
    site_url: str,
    username: str,
    app_password: str,
    **columns: Any,
) -> str:
    """A WordPress connection as the app stores it: site, user and encrypted application password."""
    sealed = Fernet(encryption_key.encode()).encrypt(app_password.encode()).decode()
    return connection(
        conn,
        encryption_key,
        user_id,
        "wordpress",
        access_token=None,
        refresh_token=None,  # the app leaves both token columns NULL
        page_id=columns.pop("page_id", None),
        page_name=columns.pop("page_name", "Sandbox Blog"),
        wordpress_site_url=site_url,
        wordpress_username=username,
        wordpress_app_password_encrypted=sealed,
        **columns,
    )


def created_content(
    conn: psycopg.Connection[Any],
    user_id: str,
    *,
    platform: str = "facebook",
    content: str = "Hello from the scheduler",
    scheduled_at: datetime | str | None = None,
    status: str = "scheduled",
    **columns: Any,
) -> str:
    """A created_content row (content_type 'post' unless given)."""
    values = {
        "user_id": user_id,
        "platform": platform,
        "content_type": columns.pop("content_type", "post"),
        "content": content,
        "status": status,
        "scheduled_at": scheduled_at,
        **columns,
    }
    return _insert(conn, "public.created_content", values)


def campaign(conn: psycopg.Connection[Any], user_id: str | None, name: str = "Week 48") -> str:
    """A content campaign owned by `user_id`."""
    return _insert(
        conn,
        "public.content_campaigns",
        {
            "user_id": user_id,
            "campaign_name": name,
            "week_start_date": date(2026, 11, 23),
            "week_end_date": date(2026, 11, 29),
        },
    )


def content_post(
    conn: psycopg.Connection[Any],
    campaign_id: str,
    *,
    scheduled_date: date | str,
    scheduled_time: time | str,
    platform: str = "facebook",
    post_type: str = "text",
    content: str = "Campaign post",
    status: str = "scheduled",
    **columns: Any,
) -> str:
    """A content_posts row (metadata NULL unless given, as the app leaves it)."""
    values = {
        "campaign_id": campaign_id,
        "platform": platform,
        "post_type": post_type,
        "content": content,
        "scheduled_date": scheduled_date,
        "scheduled_time": scheduled_time,
        "status": status,
        **columns,
    }
    return _insert(conn, "public.content_posts", values)


def row(conn: psycopg.Connection[Any], table: str, post_id: str) -> dict[str, Any]:
    """A post row as a dict (metadata decoded), for assertions."""
    cursor = conn.execute(f"SELECT * FROM public.{table} WHERE id = %s", (post_id,))
    names = [d.name for d in cursor.description or []]
    found = cursor.fetchone()
    if found is None:
        raise KeyError(post_id)
    data = dict(zip(names, found, strict=True))
    if isinstance(data.get("metadata"), str):
        data["metadata"] = json.loads(data["metadata"])
    return data
