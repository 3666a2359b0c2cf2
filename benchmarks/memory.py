"""Peak memory of the publisher process while it streams big media.

A video to YouTube and an image to LinkedIn, each alone, then `together` of each at once (with
PUBLISH_CONCURRENCY = 2 × together). Peak RSS comes from wait4 on the wrapper: the largest
resident set of the wrapper and of the Python process it waited for. The simulators run in this
benchmark's own process, so their memory is not counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, Run, accounts, fresh_stack, posts, publisher_env, run_wrapper, statuses
from devstack.postgres import Cluster
from devstack.stack import Stack

MIB = 1024 * 1024


def _video(stack: Stack, channel: str, i: int, size: int, due: datetime) -> dict[str, Any]:
    return {
        "user_id": channel,
        "platform": "youtube",
        "content_type": "long_video",
        "title": f"Memory video {i}",
        "content": f"memory video {i}",
        "media_url": stack.media_url(f"memory-{i}.mp4", size),
        "status": "scheduled",
        "scheduled_at": due,
    }


def _image(stack: Stack, member: str, i: int, size: int, due: datetime) -> dict[str, Any]:
    return {
        "user_id": member,
        "platform": "linkedin",
        "content_type": "post",
        "title": None,
        "content": f"memory image {i}",
        "media_url": stack.media_url(f"memory-{i}.jpg", size),
        "status": "scheduled",
        "scheduled_at": due,
    }


def memory(cluster: Cluster, workdir: Path, video_bytes: int, image_bytes: int, together: int) -> list[Row]:
    """Peak RSS: idle, one video, one image, `together` of each at once."""
    rows: list[Row] = []
    with fresh_stack(cluster) as stack:
        channels = accounts(stack, "youtube", together, "memory-channel-")
        members = accounts(stack, "linkedin", together, "memory-member-")
        due = datetime.now(UTC) - timedelta(minutes=1)
        env = publisher_env(stack, workdir, "memory", {})
        idle = run_wrapper(env)
        rows.append(Row("memory", "idle run peak RSS", f"{idle.peak_rss_mib:.0f} MiB"))
        video, image = f"{video_bytes / MIB:.0f} MiB video", f"{image_bytes / 1e6:.0f} MB image"
        cases: list[tuple[str, list[dict[str, Any]], dict[str, str], float]] = [
            (f"one {video} to YouTube", [_video(stack, channels[0], 0, video_bytes, due)], {}, 150),
            (f"one {image} to LinkedIn", [_image(stack, members[0], 0, image_bytes, due)], {}, 150),
            (
                f"{together} videos + {together} images at once",
                [_video(stack, c, 100 + i, video_bytes, due) for i, c in enumerate(channels)]
                + [_image(stack, m, 100 + i, image_bytes, due) for i, m in enumerate(members)],
                {"PUBLISH_CONCURRENCY": str(2 * together), "PUBLISH_CONCURRENCY_YOUTUBE": str(together)},
                400,
            ),
        ]
        for label, batch, extra, goal in cases:
            before = statuses(stack).get("published", 0)
            posts(stack, batch)
            run: Run = run_wrapper({**env, **extra})
            published = statuses(stack).get("published", 0) - before
            if published != len(batch):
                raise SystemExit(f"memory: published {published} of {len(batch)}: see {env['LOG_FILE']}")
            rows.append(
                Row(
                    "memory",
                    f"{label}: peak RSS",
                    f"{run.peak_rss_mib:.0f} MiB ({run.seconds:.1f} s)",
                    f"< {goal:.0f} MB",
                    run.peak_rss_mib * MIB < goal * 1e6,
                )
            )
    return rows
