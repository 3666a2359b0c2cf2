"""What the Facebook and Instagram adapters share: Graph API calls and Graph error replies.

Graph errors are classified by `error.code` + `error_subcode`, never by HTTP status
(docs/platforms/facebook.md, "Error classes"): code 4 can come with 400 or 403, and a 400 can
still be a rate limit. `classify` holds Facebook's table; Instagram adds its subcodes on top of
it (`services.platforms.instagram.classify_instagram_error`). `GraphClient` makes every call
through `send()` with the token in the Authorization header (never in a URL) and raises the
typed error the classifier chose; with an `OAuthToken` (Instagram Login) a call refused with
code 190 is made once more after a token refresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

import httpx

from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import AdapterContext, json_object, platform_text, send
from services.platforms.oauth import OAuthToken
from services.redaction import register_secret


def unix(moment: datetime) -> int:
    """Unix seconds; a naive datetime from a test clock means UTC, not the machine's local time."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def created_at(value: object) -> datetime | None:
    """A Graph time ("2026-11-28T12:00:00+0000", or unix seconds) as an aware datetime; None if unreadable."""
    text = str(value or "").strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def same_text(theirs: object, ours: str) -> bool:
    """Whether a post's text as Meta returns it is ours (Meta may normalise whitespace).

    Used to recognise our own post when reconciling after a failed or interrupted publish.
    """
    return " ".join(str(theirs or "").split()) == " ".join(ours.split())


class Verdict(Enum):
    """What a Graph error means for the post (the error classes, auth split in two)."""

    PERMANENT = "P"
    RETRY = "T-safe"
    AMBIGUOUS = "T-amb"
    RATE_LIMITED = "R"
    EXPIRED = "A: expired"  # the token ran out or was logged out: reconnecting fixes it
    REVOKED = "A: revoked"  # access was taken away (app removed, password changed, role lost)
    NOT_READY = "not ready"  # Instagram 9007/2207027: the container is still processing


@dataclass(frozen=True)
class GraphError:
    """The parts of a Graph error reply that decide what to do."""

    status: int
    code: int | None
    subcode: int | None
    message: str
    user_message: str = ""
    is_transient: bool = False
    fbtrace_id: str = ""
    regain_minutes: int | None = None  # from X-Business-Use-Case-Usage

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError:
        """Read a reply's `error` object; a reply that has none (an HTML 502) keeps its status."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(response.status_code, None, None, response.text[:200] or response.reason_phrase)
        return cls(
            status=response.status_code,
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=str(error.get("message") or ""),
            user_message=str(error.get("error_user_msg") or ""),
            is_transient=error.get("is_transient") is True,
            fbtrace_id=str(error.get("fbtrace_id") or ""),
            regain_minutes=_regain_minutes(response.headers.get("x-business-use-case-usage")),
        )

    def describe(self) -> str:
        """The platform's own words: its message, plus the user-facing text when there is one."""
        if self.user_message and self.user_message not in self.message:
            return f"{self.message.rstrip('.')}: {self.user_message}"
        return self.message

    def detail(self) -> str:
        """For the log: status, codes and the trace id Meta support asks for."""
        return platform_text(
            f"HTTP {self.status}, code {self.code}, subcode {self.subcode}, fbtrace_id {self.fbtrace_id}: "
            f"{self.message}"
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _regain_minutes(header: str | None) -> int | None:
    """The longest `estimated_time_to_regain_access` (minutes) in a BUC usage header."""
    if not header:
        return None
    try:
        usage = json.loads(header)
    except ValueError:
        return None
    minutes = [
        _int(entry.get("estimated_time_to_regain_access"))
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    known = [m for m in minutes if m is not None]
    return max(known) if known else None


# 190's subcodes: 463 expired and 467 logged out are fixed by logging in again;
# the others (458 app removed, 459 checkpoint, 460 password changed, 464 unconfirmed user,
# 492 no longer a Page admin, 493 app unused for 90 days) mean access was withdrawn.
_EXPIRED_SUBCODES = (None, 463, 467)
_RATE_LIMIT_CODES = (4, 17, 32, 341, 613)


def classify(error: GraphError, *, publishes: bool) -> Verdict:
    """Facebook's classification of a Graph error; `publishes`: the call can publish."""
    code = error.code
    if code in (102, 104) or (code == 190 and error.subcode in _EXPIRED_SUBCODES):
        return Verdict.EXPIRED
    if code is not None and (code in (190, 10) or 200 <= code <= 299):
        return Verdict.REVOKED
    if code in _RATE_LIMIT_CODES or (code is not None and 80000 <= code <= 80014):
        return Verdict.RATE_LIMITED
    if code is None and error.status == 429:
        return Verdict.RATE_LIMITED
    if code in (1, 2) or error.is_transient or error.status >= 500:
        return Verdict.AMBIGUOUS if publishes else Verdict.RETRY
    return Verdict.PERMANENT


class Classifier(Protocol):
    """A platform's classification of Graph errors (`classify` or Instagram's)."""

    def __call__(self, error: GraphError, *, publishes: bool) -> Verdict: ...


class NotReadyError(RetryableError):
    """Instagram's "media is not ready" on publish: poll again; if it lasts, wait for a later run."""

    def __init__(self, platform: str, message: str, *, detail: str = "") -> None:
        super().__init__(platform, message, detail=detail, counts_as_attempt=False)


def typed_error(
    platform: str, display_name: str, error: GraphError, verdict: Verdict, now: datetime
) -> PlatformError:
    """The project's error for a classified Graph error, with a message a user understands."""
    detail = error.detail()
    reconnect = f"Reconnect your {display_name} account in the app, then reschedule this post."
    if verdict is Verdict.EXPIRED:
        return AuthError(
            platform,
            f"{display_name} no longer accepts the saved login (it has expired). {reconnect}",
            detail=detail,
            connection_status="expired",
        )
    if verdict is Verdict.REVOKED:
        return AuthError(
            platform,
            f"{display_name} no longer accepts the saved login (access was withdrawn or a permission "
            f"is missing). {reconnect}",
            detail=detail,
            connection_status="revoked",
        )
    if verdict is Verdict.RATE_LIMITED:
        not_before = now + timedelta(minutes=error.regain_minutes) if error.regain_minutes else None
        return RateLimitedError(
            platform,
            f"{display_name} is limiting how often this account can post; the post will be tried again "
            "later.",
            detail=detail,
            not_before=not_before,
        )
    if verdict is Verdict.AMBIGUOUS:
        return AmbiguousError(
            platform,
            f"{display_name} reported an error after the post was sent, so it may or may not have been "
            "published.",
            detail=detail,
        )
    if verdict is Verdict.NOT_READY:
        return NotReadyError(platform, f"{display_name} is still processing the media.", detail=detail)
    if verdict is Verdict.RETRY:
        return RetryableError(
            platform,
            f"{display_name} had a temporary problem ({platform_text(error.message, 120)}); nothing was "
            "published.",
            detail=detail,
        )
    return PermanentError(
        platform, f"{display_name} rejected the post: {platform_text(error.describe())}", detail=detail
    )


class GraphClient:
    """The Graph calls of one connection: token in the Authorization header, errors typed."""

    def __init__(
        self,
        ctx: AdapterContext,
        *,
        platform: str,
        display_name: str,
        token: str,
        classify: Classifier,
        oauth: OAuthToken | None = None,
    ) -> None:
        # Registering makes every message built from platform text mask the token, even when
        # this adapter runs outside the publisher (which registers decrypted tokens itself).
        register_secret(token)
        self.ctx = ctx
        self.platform = platform
        self.display_name = display_name
        self._token = token
        self._oauth = oauth
        self._classify = classify

    @property
    def token(self) -> str:
        """The token to send now (a refreshed one after an Instagram Login refresh)."""
        return self._oauth.token if self._oauth is not None else self._token

    def get(self, url: str, **params: str) -> dict[str, Any]:
        """A read: never publishes, so every transient failure is safe to retry."""
        return self._call("GET", url, publishes=False, params=params)

    def post(self, url: str, data: dict[str, str], *, publishes: bool) -> dict[str, Any]:
        """A form POST; `publishes` marks a call after which the post may be public."""
        return self._call("POST", url, publishes=publishes, data=data)

    def upload(self, url: str, file_url: str) -> None:
        """Hand a video's public URL to a Reels/stories upload_url (Meta fetches it from there).

        The upload host wants `Authorization: OAuth <token>` and answers its own error shape
        (`debug_info` with a `retriable` flag) besides Graph errors. Nothing is published yet.
        """
        response = send(
            self.ctx,
            self.platform,
            "POST",
            url,
            publishes=False,
            what=self.display_name,
            headers={"Authorization": f"OAuth {self.token}", "file_url": file_url},
        )
        body = json_object(response)
        if response.is_success and body.get("success") is True:
            return
        if isinstance(body.get("error"), dict):
            error = GraphError.from_response(response)
            verdict = self._classify(error, publishes=False)
            raise typed_error(self.platform, self.display_name, error, verdict, self.ctx.now())
        found = body.get("debug_info")
        info: dict[str, Any] = found if isinstance(found, dict) else {}
        said = platform_text(info.get("message") or response.reason_phrase, 200)
        detail = platform_text(f"upload: HTTP {response.status_code} {info.get('type') or ''}: {said}")
        if response.status_code >= 500 or response.status_code == 429 or info.get("retriable") is True:
            raise RetryableError(
                self.platform,
                f"{self.display_name} could not receive the video for now; nothing was published.",
                detail=detail,
            )
        raise PermanentError(
            self.platform, f"{self.display_name} could not take the video: {said}", detail=detail
        )

    def _call(self, method: str, url: str, *, publishes: bool, **kwargs: Any) -> dict[str, Any]:
        def call() -> httpx.Response:
            return send(
                self.ctx,
                self.platform,
                method,
                url,
                publishes=publishes,
                what=self.display_name,
                headers={"Authorization": f"Bearer {self.token}"},
                **kwargs,
            )

        # A 190 means the call was refused untouched, so repeating it (even a publish) is safe.
        response = call() if self._oauth is None else self._oauth.authorized(call, curable=token_refused)
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                return body
            error = GraphError(
                response.status_code, None, None, "The reply could not be read.", is_transient=True
            )
        else:
            error = GraphError.from_response(response)
        verdict = self._classify(error, publishes=publishes)
        raise typed_error(self.platform, self.display_name, error, verdict, self.ctx.now())


def token_refused(response: httpx.Response) -> bool:
    """Whether a reply is Graph's code 190 (the token was not accepted): a refresh may cure it."""
    return not response.is_success and GraphError.from_response(response).code == 190
