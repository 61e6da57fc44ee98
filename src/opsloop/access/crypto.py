"""Field-level encryption of PII at rest.

AES-SIV (RFC 5297) is deterministic and misuse-resistant: the same value under the
same key and context encrypts to the same bytes. That keeps generated data
byte-identical for a seed, and lets a phone number be looked up by its ciphertext
(a blind index) without decrypting the table. The associated data binds a
ciphertext to its field, so a phone ciphertext cannot be replayed as an e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PII_FIELDS = ("name", "phone", "email", "id_number")


def derive_key(secret: bytes, *, purpose: bytes = b"opsloop-pii-v1") -> bytes:
    """A 512-bit AES-SIV key derived (HKDF-SHA256) from the configured secret."""
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=purpose).derive(secret)


class PiiCipher:
    """Encrypts and decrypts PII values of one field kind."""

    def __init__(self, key: bytes) -> None:
        self._siv = AESSIV(key)

    @classmethod
    def from_secret(cls, secret: bytes) -> PiiCipher:
        return cls(derive_key(secret))

    def encrypt(self, field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self._siv.encrypt(value.encode(), [field.encode()])

    def decrypt(self, field: str, token: bytes | None) -> str | None:
        if token is None:
            return None
        return self._siv.decrypt(token, [field.encode()]).decode()

    def encrypt_many(self, field: str, values: Iterable[str | None]) -> list[bytes | None]:
        enc = self._siv.encrypt
        ad = [field.encode()]
        return [None if v is None else enc(v.encode(), ad) for v in values]
