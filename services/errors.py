"""The project's own error classes.

Driver and HTTP errors are translated into these at the boundary (the store for supabase,
each adapter for its platform), so the rest of the program never inspects a foreign exception.

Adapters raise exactly one of the `PlatformError` subclasses below; what happens to the post
(fail, defer, disconnect, surface) is decided by the publisher, never by the adapter.
"""

from __future__ import annotations

from datetime import datetime


class PublisherError(Exception):
    """Base class of every error this program raises on purpose."""


class ConfigError(PublisherError):
    """The configuration is missing or malformed; the run stops before any work (exit 2)."""


class EncryptionKeyError(PublisherError):
    """ENCRYPTION_KEY cannot decrypt stored tokens: the run fails loudly (exit 1), no post is touched."""


class StoreError(PublisherError):
    """The database could not be read or written (exit 1 when it stops the run)."""


class PlatformError(PublisherError):
    """A platform refused or failed a request.

    `message` is a sentence a user understands (it is written to `publish_error`); `detail` is
    for operators (platform code, subcode, HTTP status) and goes to the log only. Both are
    sanitised by whoever builds them: no token ever reaches either.
    """

    kind = "error"

    def __init__(self, platform: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.platform = platform
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


class PermanentError(PlatformError):
    """Class P: repeating the request cannot succeed; the post fails with this message."""

    kind = "permanent"


class LimitError(PermanentError):
    """A post breaks a platform limit; found before any network call."""

    kind = "limit"


class RetryableError(PlatformError):
    """Class T-safe: nothing was published; the same post may be tried again later.

    `counts_as_attempt=False` marks waiting that is not a failure (an Instagram container still
    processing when the run's poll budget ends): the post is deferred without using an attempt.
    """

    kind = "retryable"

    def __init__(
        self, platform: str, message: str, *, detail: str = "", counts_as_attempt: bool = True
    ) -> None:
        super().__init__(platform, message, detail=detail)
        self.counts_as_attempt = counts_as_attempt


class AmbiguousError(PlatformError):
    """Class T-amb: a publishing call failed in a way that may still have published the post.

    Never re-send blindly: reconcile with the platform first, or surface it to the user.
    """

    kind = "ambiguous"


class RateLimitedError(PlatformError):
    """Class R: throttled or over quota, nothing published. Defer; it is not a failed attempt.

    `not_before` is the earliest time worth trying again, when the platform says (or the
    adapter knows, e.g. LinkedIn's midnight-UTC reset); None lets the publisher choose.
    """

    kind = "rate_limited"

    def __init__(
        self, platform: str, message: str, *, detail: str = "", not_before: datetime | None = None
    ) -> None:
        super().__init__(platform, message, detail=detail)
        self.not_before = not_before


class AuthError(PlatformError):
    """Class A: the token is invalid, expired or revoked, or a permission is missing.

    The connection is marked inactive with `connection_status` (`expired` or `revoked`).
    """

    kind = "auth"

    def __init__(
        self, platform: str, message: str, *, detail: str = "", connection_status: str = "expired"
    ) -> None:
        super().__init__(platform, message, detail=detail)
        self.connection_status = connection_status


class PlatformConfigError(PlatformError):
    """Class C: our client is misconfigured for this platform (LinkedIn 426, Google invalid_client).

    Every post of the platform is deferred for the rest of the run; none is failed.
    """

    kind = "config"
