"""Masking of secrets in any text that leaves the process (logs, stdout, publish_error).

Two layers: every secret the run knows is registered here (service key, encryption key,
every decrypted or refreshed token, client secrets) and replaced verbatim; on top of that,
common token shapes are masked even when nobody registered them, because a platform may echo
a token we never saw in that exact form (e.g. URL-encoded).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "[REDACTED]"

# Shapes of bearer credentials seen on the four platforms and Supabase. Deliberately greedy:
# masking a harmless string costs little, printing a token costs an account.
_TOKEN_SHAPES = [
    re.compile(r"\bEAA[A-Za-z0-9]{20,}"),  # Meta user / Page tokens
    re.compile(r"\bIG[A-Za-z0-9]{30,}"),  # Instagram Login tokens
    re.compile(r"\bAQ[A-Za-z0-9_-]{30,}"),  # LinkedIn access / refresh tokens
    re.compile(r"\bya29\.[A-Za-z0-9._-]{10,}"),  # Google access tokens
    re.compile(r"\b1//[A-Za-z0-9._-]{10,}"),  # Google refresh tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWTs (Supabase keys)
    re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet ciphertexts
    re.compile(
        r"(?i)(\b(?:access_token|refresh_token|client_secret|fb_exchange_token|apikey|api_key)=)[^&\s\"']+"
    ),
    re.compile(r"(?i)(\bAuthorization:\s*(?:Bearer|OAuth)\s+)[^\s\"']+"),
    re.compile(r"(?i)(\b(?:Bearer|OAuth)\s+)[A-Za-z0-9._~+/=-]{8,}"),
]

_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words


class Redactor:
    """A registry of known secrets and the function that masks them in text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *secrets: str | None) -> None:
        """Remember secrets (and their URL-encoded forms) so that `scrub` masks them.

        Cheap: the pattern is rebuilt at the next `scrub`, once for every secret registered
        since (a run registers hundreds of tokens; rebuilding for each would cost seconds).
        """
        with self._lock:
            for secret in secrets:
                if not secret or len(secret) < _MIN_SECRET_LENGTH:
                    continue
                for form in {secret, quote(secret, safe=""), quote(secret)}:
                    if form not in self._secrets:
                        self._secrets.add(form)
                        self._pattern = None

    def _current_pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def scrub(self, text: str) -> str:
        """Return `text` with every registered secret and token-shaped string masked."""
        if not text:
            return text
        pattern = self._current_pattern()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for shape in _TOKEN_SHAPES:
            text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text

    def clear(self) -> None:
        """Forget every registered secret (tests use this between runs)."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None


# One registry per process: a secret learnt anywhere must be masked everywhere.
REDACTOR = Redactor()


def register_secret(*secrets: str | None) -> None:
    """Register secrets with the process-wide redactor."""
    REDACTOR.register(*secrets)


def scrub(text: str) -> str:
    """Mask secrets in text with the process-wide redactor."""
    return REDACTOR.scrub(text)
