"""Secret masking and token decryption (Fernet plus the app's legacy plaintext rule)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.errors import EncryptionKeyError
from services.redaction import MASK, Redactor
from services.tokens import DamagedTokenError, TokenCipher


def test_registered_secrets_are_masked_also_url_encoded():
    """A registered secret is masked verbatim and in its URL-encoded form."""
    redactor = Redactor()
    redactor.register("s3cr/et+value")
    text = redactor.scrub("a s3cr/et+value b s3cr%2Fet%2Bvalue c")
    assert "s3cr" not in text
    assert text.count(MASK) == 2


@pytest.mark.parametrize(
    "leak",
    [
        "EAABwzLixnjYBAK9ZCZAZCabcdefghijklmnop",
        "AQVabcdefghijklmnopqrstuvwxyz0123456789",
        "ya29.a0AfH6SMBx-abcdefghijkl",
        "https://graph.facebook.com/v27.0/me?access_token=abc123&x=1",
        "Authorization: Bearer sometokenvalue123",
        "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.abcdefghijklmnop",
    ],
)
def test_token_shapes_are_masked_unregistered(leak):
    """Common token shapes are masked even when nobody registered them."""
    out = Redactor().scrub(f"error: {leak} end")
    assert MASK in out
    assert "abc123" not in out
    assert "sometokenvalue123" not in out


def test_cipher_round_trip_and_legacy_plaintext():
    """Tokens decrypt with the app's key; EAA/AQA plaintext is accepted; empty means none."""
    key = Fernet.generate_key().decode()
    cipher = TokenCipher(key)
    assert cipher.decrypt(cipher.encrypt("tok-123456")) == "tok-123456"
    assert cipher.decrypt(cipher.encrypt("")) is None
    assert cipher.decrypt(None) is None
    assert cipher.decrypt("EAAlegacytoken") == "EAAlegacytoken"
    assert cipher.decrypt("AQAlegacytoken") == "AQAlegacytoken"


def test_wrong_key_stops_the_run_and_garbage_is_per_connection():
    """A Fernet token that does not decrypt means a wrong key; other garbage is one damaged row."""
    stored = TokenCipher(Fernet.generate_key().decode()).encrypt("tok-123456")
    other = TokenCipher(Fernet.generate_key().decode())
    with pytest.raises(EncryptionKeyError):
        other.decrypt(stored)
    with pytest.raises(DamagedTokenError):
        other.decrypt("plain-garbage")
