"""The ``Idempotency-Key`` header's value, and what is derived from it: the record's id,
the key that seals the stored answer and the one that fingerprints the request."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.types import Scope

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

_NONCE_BYTES = 12

_INVALID_KEY = (
    f"Заголовок {HEADER} должен встречаться в запросе один раз "
    "и содержать от 1 до 255 печатных символов ASCII."
)


def parse_key(values: list[bytes]) -> str | None:
    """The key of the request's ``Idempotency-Key`` values, or ``None`` if it is malformed."""
    if len(values) != 1:
        return None
    raw = values[0].strip(b" \t")
    if raw.startswith(b'"'):  # the draft's form: a structured-field string
        if len(raw) < 2 or not raw.endswith(b'"'):
            return None
        key = _unquote(raw[1:-1])
        if key is None:
            return None
    else:
        key = raw
    if not 1 <= len(key) <= 255 or any(byte < 0x20 or byte > 0x7E for byte in key):
        return None
    return key.decode("ascii")


def _unquote(inner: bytes) -> bytes | None:
    out, escaped = bytearray(), False
    for byte in inner:
        if escaped:
            if byte not in b'"\\':
                return None
            out.append(byte)
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x22:  # an unescaped quote inside
            return None
        else:
            out.append(byte)
    return None if escaped else bytes(out)


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A request's key, as the store and the cipher see it; the raw key stays here."""

    record_id: str
    cipher_key: bytes
    mac_key: bytes

    @classmethod
    def of(cls, scope_name: str, key: str) -> _Keyed:
        material = scope_name.encode() + b"\0" + key.encode()

        def derive(purpose: bytes) -> bytes:
            return hashlib.sha256(b"emk-idempotency/" + purpose + b"\0" + material).digest()

        return cls(derive(b"id").hex(), derive(b"cipher"), derive(b"mac"))

    def fingerprint(self, scope: Scope, body_sha256: bytes) -> str:
        parts = (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""))
        message = b"\0".join((*parts, body_sha256))
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest()

    def seal(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
        listed = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
        plain = json.dumps(listed).encode() + b"\n" + body
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.cipher_key).encrypt(nonce, plain, self._aad(status))

    def open(self, status: int, sealed: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        plain = AESGCM(self.cipher_key).decrypt(nonce, ciphertext, self._aad(status))
        listed, _, body = plain.partition(b"\n")
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in json.loads(listed)]
        return headers, body

    def _aad(self, status: int) -> bytes:
        return f"{self.record_id}:{status}".encode()
