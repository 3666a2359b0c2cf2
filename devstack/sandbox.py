"""The sandbox: the whole product working locally, before anyone owns an account.

Starts the local stack, seeds sample posts in both tables (due now for every platform and post
kind, due later, and some with bad input), runs the real cron wrapper once against it, prints
what happened to each post, and cleans up. `--keep` leaves everything running and prints the
environment, so that the other commands (find_test_user.py, status, check, --dry-run) can be
tried against it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytz

from devstack import seed
from devstack.postgres import start_cluster
from devstack.simulators.wordpress import BLOG_ADMIN
from devstack.stack import ROOT, Stack, start_stack

WRAPPER = ROOT / "scripts" / "run_content_publisher.sh"
TZ = "America/New_York"


def seed_samples(stack: Stack) -> list[tuple[str, str, str]]:
    """Insert the sample data; returns (table, post id, description) in display order."""
    now = datetime.now(UTC)
    due = now - timedelta(minutes=2)
    local = due.astimezone(pytz.timezone(TZ))
    kolkata = due.astimezone(pytz.timezone("Asia/Kolkata"))
    posts: list[tuple[str, str, str]] = []
    with stack.connect() as conn:
        owner = seed.user(conn, "services@atsnai.com", TZ)
        other = seed.user(conn, "someone.else@example.com", "Asia/Kolkata")
        key = stack.encryption_key
        seed.connection(
            conn,
            key,
            owner,
            "facebook",
            access_token="EAASandboxPageToken0123456789abcdef",
            page_id="104958162837461",
            page_name="Sandbox Bakery",
        )
        seed.connection(
            conn,
            key,
            owner,
            "instagram",
            access_token="EAASandboxPageToken0123456789abcdef",
            page_id="17841400000000001",
            page_name="sandbox.bakery",
        )
        # An Instagram account connected with Instagram Login (graph.instagram.com, an IGAA… token),
        # connected earlier than the one above so that only posts naming its page_id use it.
        seed.connection(
            conn,
            key,
            owner,
            "instagram",
            access_token="IGAASandboxInstagramLoginToken0123456789",
            page_id=stack.instagram_graph.me_user_id,
            page_name="sandbox.bakery.shop",
            connected_at=now - timedelta(days=30),
        )
        seed.connection(
            conn,
            key,
            owner,
            "linkedin",
            access_token="AQVSandboxLinkedInToken0123456789abcdef",
            page_id="sandbox-member",
            linkedin_id="sandbox-member",
            page_name="Sandbox Baker",
        )
        seed.connection(
            conn,
            key,
            owner,
            "youtube",
            access_token="ya29.sandbox-google-access-token",
            refresh_token="1//sandbox-google-refresh-token",
            page_id="UCsandboxchannel",
            page_name="Sandbox Bakery TV",
        )
        # An access token past its 2 hours: the first X post refreshes it (and X rotates the
        # refresh token), the others use the stored new pair.
        seed.connection(
            conn,
            key,
            owner,
            "twitter",
            access_token="expired-sandbox-x-access-token",
            refresh_token="sandbox-x-refresh-token",
            page_id=stack.x.user_id,
            page_name="Sandbox Bakery",
            page_username=stack.x.username,
        )

        seed.wordpress_connection(
            conn,
            key,
            owner,
            site_url=stack.wordpress_site("/blog"),
            username=BLOG_ADMIN[0],
            app_password=BLOG_ADMIN[1],
        )

        def cc(description: str, **fields: Any) -> None:
            fields.setdefault("scheduled_at", due)
            posts.append(("created_content", seed.created_content(conn, owner, **fields), description))

        img, jpg2, jpg3 = (stack.media_url(f"{n}.jpg") for n in ("croissant", "baguette", "brioche"))
        video = stack.media_url("bakery-tour.mp4", 3 * 256 * 1024 + 1000)
        cc("Facebook text with a link", content="Fresh bread today! https://example.com/menu", title="Open")
        cc("Facebook photo", content_type="static_post", content="Our croissants", media_url=img)
        cc(
            "Facebook several photos",
            content_type="carousel",
            content="Three loaves",
            images=[img, jpg2, jpg3],
        )
        cc("Facebook video", content_type="video", content="A tour", media_url=video)
        cc(
            "Facebook link post",
            content="Our winter menu is online",
            metadata={"link": "https://example.com/winter-menu"},
        )
        cc("Facebook reel", content_type="reel", content="Kneading in 20 seconds", media_url=video)
        cc("Facebook photo story", content_type="story", content="(stories have no text)", media_url=img)
        cc(
            "Facebook video story",
            content_type="story",
            content="(stories have no text)",
            metadata={"video_url": video},
        )
        cc(
            "Instagram image",
            platform="instagram",
            content="Croissant close-up",
            media_url=img,
            hashtags=["bakery", "#croissant"],
        )
        cc(
            "Instagram carousel",
            platform="instagram",
            content_type="carousel",
            content="Swipe",
            images=[img, jpg2],
        )
        cc(
            "Instagram reel with a cover, Reels tab only",
            platform="instagram",
            content_type="reel",
            content="Dough time-lapse",
            media_url=video,
            metadata={"thumbnail": jpg2, "share_to_feed": False},
        )
        cc(
            "Instagram story",
            platform="instagram",
            content_type="story",
            content="(stories have no caption)",
            media_url=img,
        )
        cc(
            "Instagram carousel of photos and a video",
            platform="instagram",
            content_type="carousel",
            content="Photos and a clip",
            images=[img, video],
        )
        cc(
            "Instagram via Instagram Login",
            platform="instagram",
            content="Posted through graph.instagram.com",
            media_url=jpg3,
            metadata={"page_id": stack.instagram_graph.me_user_id},
        )
        cc(
            "LinkedIn text with reserved characters",
            platform="linkedin",
            content="We're hiring (bakers) [full-time] <apply> *now* _today_ ~ {bread} | @team #jobs",
        )
        cc("LinkedIn image", platform="linkedin", content="Our new shop", media_url=img)
        cc(
            "LinkedIn several images",
            platform="linkedin",
            content_type="carousel",
            content="Shop photos",
            images=[img, jpg2, jpg3],
        )
        cc(
            "LinkedIn video (two upload parts)",
            platform="linkedin",
            content_type="video",
            title="Inside our bakery",
            content="A tour of the kitchen",
            media_url=stack.media_url("linkedin-tour.mp4", 4 * 1024 * 1024 + 200_000),
        )
        cc(
            "LinkedIn document",
            platform="linkedin",
            title="Our winter menu",
            content="The whole menu as a PDF",
            media_url=stack.media_url("winter-menu.pdf", 150_000),
        )
        cc(
            "LinkedIn link with a thumbnail",
            platform="linkedin",
            content="Read how we bake our bread",
            metadata={"link": "https://example.com/our-story", "thumbnail": img},
        )
        cc(
            "YouTube video",
            platform="youtube",
            content_type="long_video",
            title="Inside our bakery",
            content="A tour of the kitchen.",
            media_url=video,
            hashtags=["bakery"],
        )
        cc(
            "YouTube Short",
            platform="youtube",
            content_type="short_video",
            title="Shaping a baguette in 30 seconds",
            content="Fold, roll, score.",
            media_url=video,
            hashtags=["baking", "baguette"],
        )
        cc(
            "YouTube video with thumbnail, tags, category, privacy",
            platform="youtube",
            content_type="long_video",
            title="Our sourdough, start to finish",
            content="Starter, dough, proof and bake.",
            media_url=video,
            hashtags=["sourdough", "breadmaking", "howto"],
            metadata={
                "thumbnail": stack.media_url("sourdough-cover.jpg", 40_000),
                "category": "26",
                "made_for_kids": False,
                "privacy": "unlisted",
            },
        )
        cc("X text", platform="twitter", content="Fresh sourdough at 8 \U0001f35e #bread")
        cc(
            "X link",
            platform="twitter",
            content="This week's menu",
            metadata={"link": "https://example.com/menu"},
        )
        cc("X image", platform="twitter", content_type="static_post", content="Croissants", media_url=img)
        cc(
            "X several images",
            platform="twitter",
            content_type="carousel",
            content="Three loaves",
            images=[img, jpg2, jpg3],
        )
        cc("X video", platform="twitter", content_type="video", content="Kitchen tour", media_url=video)
        cc(
            "WordPress blog entry with a featured image",
            platform="wordpress",
            content_type="blog",
            channel="Blog",
            title="Our autumn menu",
            content="Pumpkin loaves are back.\n\nAnd the <b>best</b> apple & cinnamon rolls.",
            media_url=img,
            hashtags=["bakery", "autumn"],
        )
        cc("WordPress text post", platform="wordpress", content="Open late on Friday\nSee you there!")
        cc("Due tomorrow (stays scheduled)", scheduled_at=now + timedelta(days=1))
        cc("Bad input: no schedule at all", scheduled_at=None)
        cc("Bad input: Instagram caption too long", platform="instagram", content="x" * 2300, media_url=img)
        cc("Bad input: unsupported platform", platform="tiktok")
        cc("Overdue by 3 days (expires)", scheduled_at=now - timedelta(days=3))
        campaign = seed.campaign(conn, owner)
        posts.append(
            (
                "content_posts",
                seed.content_post(
                    conn,
                    campaign,
                    scheduled_date=local.date(),
                    scheduled_time=local.time().replace(microsecond=0),
                    content="Campaign post due now in New York time",
                ),
                "Campaign post (local date + time)",
            )
        )
        posts.append(
            (
                "content_posts",
                seed.content_post(
                    conn,
                    campaign,
                    scheduled_date=local.date() + timedelta(days=1),
                    scheduled_time="09:00",
                    content="Campaign post for tomorrow",
                ),
                "Campaign post due tomorrow",
            )
        )
        posts.append(
            (
                "content_posts",
                seed.content_post(
                    conn,
                    seed.campaign(conn, other),
                    scheduled_date=kolkata.date(),
                    scheduled_time=kolkata.time().replace(microsecond=0),
                    platform="facebook",
                    content="Someone else's post",
                ),
                "Another user, no connection",
            )
        )
    return posts


def outcome_table(stack: Stack, posts: list[tuple[str, str, str]]) -> str:
    """A plain-text table of what happened to each sample post."""
    header = ("table", "post", "platform", "outcome", "platform post id / error", "sample")
    lines = [header]
    with stack.connect() as conn:
        for table, post_id, description in posts:
            row = seed.row(conn, table, post_id)
            meta = row.get("metadata") or {}
            platform = row["platform"]
            detail = (
                meta.get(f"{platform}_post_id")
                or meta.get("publish_error")
                or meta.get("expired_reason")
                or meta.get("_publish_last_error")
                or ""
            )
            lines.append((table, post_id[:8], platform, row["status"], str(detail)[:100], description))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = [" | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)) for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox; returns the wrapper's exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack running until Ctrl-C")
    args = parser.parse_args(argv)
    print("Starting the local stack (PostgreSQL, API stand-in, platform simulators)...", flush=True)
    cluster = start_cluster()
    stack = start_stack(cluster)
    workdir = Path(tempfile.mkdtemp(prefix="publisher-sandbox-"))
    try:
        posts = seed_samples(stack)
        env = {
            **os.environ,
            **stack.env(),
            "LOG_FILE": str(workdir / "content_publisher.log"),
            "PUBLISHER_LOCK_FILE": str(workdir / "publisher.lock"),
        }
        print(f"Seeded {len(posts)} sample posts. Running {WRAPPER.relative_to(ROOT)} once...\n", flush=True)
        started = time.monotonic()
        result = subprocess.run([str(WRAPPER)], env=env, check=False)
        print(f"The run exited with code {result.returncode} after {time.monotonic() - started:.1f}s.\n")
        print(outcome_table(stack, posts))
        log = (workdir / "content_publisher.log").read_text()
        summary = [line for line in log.splitlines() if "finished:" in line]
        print("\nSummary line from the log:\n" + (summary[-1] if summary else "(none: see the log)"))
        print(f"Full log: {workdir / 'content_publisher.log'}")
        if args.keep:
            print("\nThe stack keeps running. In another shell, with these variables exported:")
            for name in (
                "PUBLISHER_ENV_FILE",
                "SUPABASE_URL",
                "SUPABASE_SERVICE_ROLE_KEY",
                "ENCRYPTION_KEY",
                "META_GRAPH_URL",
                "META_GRAPH_VIDEO_URL",
                "INSTAGRAM_GRAPH_URL",
                "LINKEDIN_API_URL",
                "YOUTUBE_UPLOAD_URL",
                "GOOGLE_OAUTH_TOKEN_URL",
                "X_API_URL",
                "X_OAUTH_TOKEN_URL",
            ):
                print(f"  export {name}={env[name]}")
            print("try: .venv/bin/python find_test_user.py   or   scripts/run_content_publisher.sh --dry-run")
            print("Press Ctrl-C to stop and clean up.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return result.returncode
    finally:
        stack.close()
        cluster.stop()
        print("\nSandbox stopped and cleaned up.")


if __name__ == "__main__":
    sys.exit(main())
