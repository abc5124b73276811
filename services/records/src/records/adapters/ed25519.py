"""Ed25519 detached signatures (RFC 8032): the records' signature scheme."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Ed25519Scheme:
    name = "Ed25519"

    def public_key_ok(self, public_key: bytes) -> bool:
        if len(public_key) != 32:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError:
            return False
        return True

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64 or not self.public_key_ok(public_key):
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True
