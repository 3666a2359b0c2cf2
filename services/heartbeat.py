"""The heartbeat: one request to an uptime monitor after each run, so that silence is noticed.

A monitor such as healthchecks.io alerts when the pings stop (cron or the server is down) or
when a run pings `<HEARTBEAT_URL>/fail` (the run failed, exit 1). The ping is best effort: a
monitor that is down must never fail or slow down the publishing run, so the timeout is short
and every error is logged as one warning and swallowed.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger("publisher")

TIMEOUT_SECONDS = 5.0


def fail_url(url: str) -> str:
    """`url` with `/fail` appended to its path (any query string is kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def ping(url: str | None, *, failed: bool, timeout: float = TIMEOUT_SECONDS) -> bool:
    """GET the heartbeat URL (its /fail form after a failed run); True when the monitor answered 2xx.

    The URL is never logged: monitors treat it as a secret (anyone holding it can ping).
    """
    if not url:
        return False
    target = fail_url(url) if failed else url
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(target)
    except httpx.HTTPError as exc:
        log.warning("heartbeat ping failed (%s); the run is not affected", type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("heartbeat ping answered HTTP %s; the run is not affected", response.status_code)
        return False
    log.debug("heartbeat ping sent (%s run)", "failed" if failed else "completed")
    return True
