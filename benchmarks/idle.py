"""A run with nothing due over a year of scheduled posts: what cron pays every minute.

The backlog is split over both tables: created_content with `scheduled_at` between one hour and
a year ahead, content_posts with dates from tomorrow to a year ahead. None is due. A run must
read the rows dated up to tomorrow (a wall-clock date can be due somewhere on Earth a day
early); every other row must stay on the server. Figures are set against the floor any run pays:
starting Python, importing the supabase client and creating it (creating its HTTP client loads
the TLS certificates and the HTTP/2 stack, about 50 ms that no run can skip); the ratio to the
bare import is printed too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.harness import PYTHON, Row, fresh_stack, median_of, publisher_env, run_wrapper, timed
from devstack import seed
from devstack.postgres import Cluster
from devstack.stack import Stack

CREATE_CLIENT = "import supabase; supabase.create_client('http://127.0.0.1:9', 'key')"


def seed_backlog(stack: Stack, count: int) -> int:
    """`count` future posts of one owner spread over a year; returns how many are dated up to
    tomorrow (the rows a run must read)."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    with stack.connect() as conn:
        owner = seed.user(conn, "backlog@bench.example")
        campaign = seed.campaign(conn, owner)
        half = count // 2
        conn.execute(
            "INSERT INTO public.created_content"
            " (user_id, platform, content_type, content, status, scheduled_at)"
            " SELECT %s, 'facebook', 'post', 'future ' || i, 'scheduled',"
            "        now() + interval '1 hour' + (i * interval '365 days' / %s)"
            " FROM generate_series(1, %s) AS i",
            (owner, half, half),
        )
        conn.execute(
            "INSERT INTO public.content_posts"
            " (campaign_id, platform, post_type, content, status, scheduled_date, scheduled_time)"
            " SELECT %s, 'facebook', 'text', 'future ' || i, 'scheduled',"
            "        %s::date + (i * 365 / %s), time '09:00' + mod(i, 600) * interval '1 minute'"
            " FROM generate_series(0, %s - 1) AS i",
            (campaign, tomorrow, count - half, count - half),
        )
        conn.execute("ANALYZE public.created_content; ANALYZE public.content_posts")
        row = conn.execute(
            "SELECT count(*) FROM public.content_posts WHERE scheduled_date <= %s", (tomorrow,)
        ).fetchone()
    return int(str(row[0])) if row else 0


def idle(cluster: Cluster, workdir: Path, backlog: int, repeat: int) -> list[Row]:
    """Wall time and rows read of an idle run, empty and over the backlog, against the floor."""
    python = median_of(repeat, lambda: timed([str(PYTHON), "-c", "pass"]))
    bare = median_of(repeat, lambda: timed([str(PYTHON), "-c", "import supabase"]))
    floor = median_of(repeat, lambda: timed([str(PYTHON), "-c", CREATE_CLIENT]))
    rows = [
        Row("idle", "python start", f"{python * 1000:.0f} ms"),
        Row("idle", "python + import supabase", f"{bare * 1000:.0f} ms"),
        Row("idle", "floor: python + import supabase + create the client", f"{floor * 1000:.0f} ms"),
    ]
    with fresh_stack(cluster) as stack:
        env = publisher_env(stack, workdir, "idle", {})
        run_wrapper(env)  # warm the disk cache
        for label, size in (("empty database", 0), (f"{backlog:,} future posts", backlog)):
            within = seed_backlog(stack, size) if size else 0
            run_wrapper(env)  # the database's own caches, as on a server that runs every minute
            stack.reset_meters()
            wall = median_of(repeat, lambda: run_wrapper(env).seconds)
            read = stack.meters["api"].rows_served / repeat
            calls = stack.request_counts["api"] / repeat
            api_ms = stack.meters["api"].busy_s / repeat * 1000
            ratio = wall / floor
            rows += [
                Row(f"idle, {label}", "wrapper wall time", f"{wall * 1000:.0f} ms"),
                Row(f"idle, {label}", "wall / floor", f"{ratio:.2f}x", "< 1.2x", ratio < 1.2),
                Row(f"idle, {label}", "wall / bare import", f"{wall / bare:.2f}x"),
                Row(f"idle, {label}", "API requests per run", f"{calls:.0f} ({api_ms:.0f} ms in the API)"),
            ]
            if size:
                # The rows dated up to tomorrow, and their one owner's profile (for the timezone).
                must = within + 1
                rows.append(
                    Row(
                        f"idle, {label}",
                        "rows read per run",
                        f"{read:.0f} ({within} dated up to tomorrow + 1 owner)",
                        f"≤ {must} (none beyond)",
                        read <= must,
                    )
                )
            else:
                rows.append(Row(f"idle, {label}", "rows read per run", f"{read:.0f}"))
    return rows
