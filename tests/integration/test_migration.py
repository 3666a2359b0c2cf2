"""sql/migration.sql on real PostgreSQL: idempotent, safe on the app's existing tables, locked down."""

from __future__ import annotations

import psycopg
import pytest

from devstack.postgres import Cluster
from devstack.stack import ROOT
from services.store import MIGRATION_MARK

pytestmark = pytest.mark.integration

SCHEMA = (ROOT / "sql" / "schema.sql").read_text()
MIGRATION = (ROOT / "sql" / "migration.sql").read_text()


def fresh_database(cluster: Cluster, name: str) -> str:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.dsn_for(name)


def test_migration_runs_twice(pg_cluster: Cluster):
    """Applying the migration twice on the app's schema succeeds and adds every missing column."""
    with psycopg.connect(fresh_database(pg_cluster, "mig_twice"), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(MIGRATION)
        conn.execute(MIGRATION)
        columns = {
            (table, column)
            for table, column in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            ).fetchall()
        }
        version = conn.execute("SELECT publisher_migration_version()").fetchone()
    for expected in [
        ("created_content", "scheduled_at"),
        ("created_content", "scheduled_date"),
        ("created_content", "scheduled_time"),
        ("created_content", "published_at"),
        ("content_posts", "primary_image_url"),
        ("content_posts", "published_at"),
    ]:
        assert expected in columns
    assert version == (MIGRATION_MARK,)


def test_migration_keeps_existing_columns_and_data(pg_cluster: Cluster):
    """On a database where the app already added the columns and rows exist, nothing is lost."""
    with psycopg.connect(fresh_database(pg_cluster, "mig_existing"), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("ALTER TABLE created_content ADD COLUMN scheduled_at timestamptz")
        user = conn.execute("INSERT INTO auth.users (email) VALUES ('x@example.com') RETURNING id").fetchone()
        assert user is not None
        conn.execute(
            "INSERT INTO created_content (user_id, content_type, content, scheduled_at) "
            "VALUES (%s, 'post', 'kept', '2026-11-28T10:00:00Z')",
            (user[0],),
        )
        conn.execute(MIGRATION)
        row = conn.execute("SELECT content, scheduled_at FROM created_content").fetchone()
    assert row is not None
    assert row[0] == "kept"
    assert row[1].isoformat() == "2026-11-28T10:00:00+00:00"


def test_only_the_service_role_may_call_the_functions(pg_cluster: Cluster):
    """On Supabase-like roles, anon and authenticated cannot execute the claim; service_role can."""
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        for role in ("anon", "authenticated", "service_role"):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} NOLOGIN")
    with psycopg.connect(fresh_database(pg_cluster, "mig_roles"), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(MIGRATION)
        signature = "public.publisher_claim_batch(text, uuid[], text, integer, uuid)"
        allowed = {
            role: conn.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
            ).fetchone()
            for role in ("anon", "authenticated", "service_role")
        }
    assert allowed == {"anon": (False,), "authenticated": (False,), "service_role": (True,)}
