"""Platform tokens: Fernet decryption with the app's key, and the app's legacy plaintext rule.

The app encrypts tokens with Fernet under ENCRYPTION_KEY. Old rows may hold a plaintext
token; the app's own rule is: if decryption fails and the value starts with `EAA` (Meta) or
`AQA` (LinkedIn), it is plaintext.

A value that looks like a Fernet token but does not decrypt is either one damaged connection
(saved under another key, or cut short) or a sign that ENCRYPTION_KEY itself is wrong. One token
cannot tell which, so the decision is made over many: `key_is_wrong` says the key is wrong only
when not one of the Fernet tokens seen decrypts. A wrong key stops the run before anything is
claimed; a damaged token fails only its own connection's posts.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken

from services.redaction import register_secret

LEGACY_PLAINTEXT_PREFIXES = ("EAA", "AQA")
_FERNET_PREFIX = "gAAAAA"  # version byte 0x80 + timestamp: every Fernet token starts like this


class DamagedTokenError(ValueError):
    """A stored token that is neither decryptable nor a legacy plaintext token."""


class ForeignTokenError(DamagedTokenError):
    """A Fernet token this key cannot decrypt (another key, or damaged ciphertext)."""


class TokenCipher:
    """Decrypts and encrypts connection tokens with the app's key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def decrypt(self, stored: str | None) -> str | None:
        """The plaintext token, or None when nothing (or an encrypted empty string) is stored."""
        if stored is None or not stored.strip():
            return None
        value = stored.strip()
        try:
            token = self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            if value.startswith(LEGACY_PLAINTEXT_PREFIXES):
                register_secret(value)
                return value
            if value.startswith(_FERNET_PREFIX):
                raise ForeignTokenError("the stored token was encrypted with another key") from None
            raise DamagedTokenError("the stored token is neither encrypted nor a known token") from None
        except UnicodeDecodeError:
            raise DamagedTokenError("the stored token does not decrypt to text") from None
        register_secret(token)
        return token or None

    def decrypts(self, stored: str | None) -> bool | None:
        """Whether a stored Fernet token decrypts under this key (None: not a Fernet token)."""
        if not isinstance(stored, str) or not stored.strip().startswith(_FERNET_PREFIX):
            return None
        try:
            self.decrypt(stored)
        except DamagedTokenError:
            return False
        return True

    def key_is_wrong(self, stored_values: Iterable[str | None]) -> bool:
        """True when there are Fernet tokens among `stored_values` and not one of them decrypts."""
        verdicts = [v for v in (self.decrypts(value) for value in stored_values) if v is not None]
        return bool(verdicts) and not any(verdicts)

    def encrypt(self, token: str) -> str:
        """Ciphertext to store, as the app would write it."""
        register_secret(token)
        return self._fernet.encrypt(token.encode()).decode()
