"""Platform tokens: Fernet decryption with the app's key, and the app's legacy plaintext rule.

The app encrypts tokens with Fernet under ENCRYPTION_KEY. Old rows may hold a plaintext
token; the app's own rule is: if decryption fails and the value starts with `EAA` (Meta) or
`AQA` (LinkedIn), it is plaintext. A value that *is* a Fernet token but does not decrypt means
the key is wrong: that stops the run (no post may be failed because of our configuration).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from services.errors import EncryptionKeyError
from services.redaction import register_secret

LEGACY_PLAINTEXT_PREFIXES = ("EAA", "AQA")
_FERNET_PREFIX = "gAAAAA"  # version byte 0x80 + timestamp: every Fernet token starts like this


class DamagedTokenError(ValueError):
    """A stored token that is neither decryptable nor a legacy plaintext token."""


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
                raise EncryptionKeyError(
                    "ENCRYPTION_KEY cannot decrypt the stored platform tokens: it is not the key the "
                    "app encrypted them with. Set the app's key in .env; no post was changed."
                ) from None
            raise DamagedTokenError("the stored token is neither encrypted nor a known token") from None
        register_secret(token)
        return token or None

    def encrypt(self, token: str) -> str:
        """Ciphertext to store, as the app would write it."""
        register_secret(token)
        return self._fernet.encrypt(token.encode()).decode()
