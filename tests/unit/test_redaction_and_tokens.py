"""Secret masking and token decryption (Fernet plus the app's legacy plaintext rule)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.redaction import MASK, Redactor
from services.tokens import DamagedTokenError, ForeignTokenError, TokenCipher


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


def test_one_undecryptable_token_is_that_connections_problem():
    """A Fernet token another key made, or garbage, fails only its own row (a DamagedTokenError)."""
    stored = TokenCipher(Fernet.generate_key().decode()).encrypt("tok-123456")
    other = TokenCipher(Fernet.generate_key().decode())
    with pytest.raises(ForeignTokenError):
        other.decrypt(stored)
    with pytest.raises(DamagedTokenError):
        other.decrypt("plain-garbage")
    with pytest.raises(DamagedTokenError):
        other.decrypt(stored[:-12] + "AAAAAAAAAAA=")  # damaged ciphertext


@pytest.mark.parametrize(
    ("ours", "foreign", "plain", "wrong"),
    [
        (0, 1, 0, True),  # not one Fernet token decrypts: the key is wrong
        (0, 3, 2, True),  # legacy plaintext tokens say nothing about the key
        (1, 3, 0, False),  # one decrypts: the others are damaged connections
        (0, 0, 2, False),  # no Fernet token at all: nothing to judge by
        (0, 0, 0, False),
    ],
)
def test_the_key_is_wrong_only_when_no_fernet_token_decrypts(ours, foreign, plain, wrong):
    """A wrong ENCRYPTION_KEY is told from damaged rows by whether any Fernet token decrypts."""
    cipher = TokenCipher(Fernet.generate_key().decode())
    alien = TokenCipher(Fernet.generate_key().decode())
    values = [cipher.encrypt(f"t{i}") for i in range(ours)]
    values += [alien.encrypt(f"a{i}") for i in range(foreign)]
    values += ["EAAlegacytoken"] * plain + [None, ""]
    assert cipher.key_is_wrong(values) is wrong
