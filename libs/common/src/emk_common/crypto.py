"""Data at rest and sealed messages: field encryption, blind indexes, sealed boxes.

* :class:`FieldCipher` encrypts one field (passport, СНИЛС, a result …) with AES-256-GCM
  under a key of the keyring ``EMK_FIELD_KEYS``. The token names its key id, so a ring
  holding old and new keys decrypts both while :meth:`FieldCipher.rotate` re-encrypts
  under the active key. A ``context`` such as ``"users.snils:<user id>"`` is bound as
  associated data: a ciphertext copied into another field or another record does not
  decrypt, so a database writer cannot swap two people's data unnoticed.
* :class:`BlindIndex` makes exact-match lookups possible over encrypted fields: a keyed
  HMAC of the normalised value, with its own key (a leaked index reveals equality, never
  the value, and it cannot be brute-forced without the key).
* :func:`seal` / :func:`open_sealed` carry a one-time code through Kafka to the
  notifications service only: X25519 with an ephemeral key per message, HKDF-SHA256,
  AES-256-GCM with the event id as associated data (a box moved to another event fails).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from emk_common.catalog import SealedBox
from emk_common.settings import ServiceSettings, decode_keyring

__all__ = [
    "BlindIndex",
    "DecryptionError",
    "FieldCipher",
    "open_sealed",
    "seal",
    "sealing_public_key",
]

_VERSION = "v1"
_BINARY_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_SEALED_INFO = b"emk sealed box v1"
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class DecryptionError(Exception):
    """The data cannot be decrypted: unknown key, tampering, or the wrong context.

    The message never contains the data, only what the reader may log.
    """


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("malformed base64") from None


class FieldCipher:
    """AES-256-GCM for single fields; tokens ``v1.<kid>.<nonce>.<ciphertext+tag>``.

    The version and key id are authenticated along with the context, so neither can be
    rewritten in a stored token.
    """

    def __init__(self, keyring: Mapping[str, bytes], active_kid: str | None) -> None:
        if not keyring:
            raise ValueError("the field keyring is empty (EMK_FIELD_KEYS)")
        for kid, key in keyring.items():
            if not kid or "." in kid or len(kid.encode()) > 255:
                raise ValueError(f"field key id {kid!r}: 1-255 bytes, no dots")
            if len(key) != _KEY_BYTES:
                raise ValueError(f"field key {kid!r} must be 32 bytes (AES-256)")
        if not active_kid:
            if len(keyring) != 1:
                raise ValueError(
                    f"name the active field key (EMK_FIELD_KID) among {sorted(keyring)}"
                )
            [active_kid] = keyring
        if active_kid not in keyring:
            raise ValueError(f"active field key {active_kid!r} is not in {sorted(keyring)}")
        self.active_kid = active_kid
        self._aead = {kid: AESGCM(key) for kid, key in keyring.items()}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> FieldCipher:
        if not settings.emk_field_keys:
            raise ValueError("EMK_FIELD_KEYS is not set")
        return cls(decode_keyring(settings.emk_field_keys), settings.emk_field_kid or None)

    # --- text fields: compact tokens for MongoDB documents ------------------------

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self.active_kid].encrypt(
            nonce, plaintext.encode(), _aad(self.active_kid, context)
        )
        return f"{_VERSION}.{self.active_kid}.{_b64encode(nonce)}.{_b64encode(sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        kid, nonce, sealed = _parse_token(token)
        plain = self._open(kid, nonce, sealed, context)
        try:
            return plain.decode()
        except UnicodeDecodeError:
            raise DecryptionError(f"key {kid!r}: not text") from None

    def needs_rotation(self, token: str | bytes) -> bool:
        """Whether a token (or a binary blob) is under a key other than the active one."""
        kid = _parse_blob(token)[0] if isinstance(token, bytes) else _parse_token(token)[0]
        return kid != self.active_kid

    def rotate(self, token: str, *, context: str) -> str:
        """The same plaintext under the active key (the token itself if already there)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    # --- binary data: documents before they reach S3 -------------------------------

    def encrypt_bytes(self, data: bytes, *, context: str) -> bytes:
        """``0x01 | len(kid) | kid | nonce | ciphertext+tag``: no base64 overhead."""
        kid = self.active_kid.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self.active_kid].encrypt(nonce, data, _aad(self.active_kid, context))
        return _BINARY_VERSION + bytes([len(kid)]) + kid + nonce + sealed

    def decrypt_bytes(self, blob: bytes, *, context: str) -> bytes:
        return self._open(*_parse_blob(blob), context)

    def _open(self, kid: str, nonce: bytes, sealed: bytes, context: str) -> bytes:
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown field key {kid[:40]!r}")
        try:
            return aead.decrypt(nonce, sealed, _aad(kid, context))
        except InvalidTag:
            raise DecryptionError(f"key {kid!r}: tampered, or another context") from None


def _aad(kid: str, context: str) -> bytes:
    # A kid has no dots, so "v1.<kid>.<context>" is unambiguous whatever the context holds.
    return f"{_VERSION}.{kid}.{context}".encode()


def _parse_token(token: str) -> tuple[str, bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1]:
        raise DecryptionError("not a v1 field token")
    nonce, sealed = _b64decode(parts[2]), _b64decode(parts[3])
    if len(nonce) != _NONCE_BYTES or len(sealed) < 16:
        raise DecryptionError("malformed field token")
    return parts[1], nonce, sealed


def _parse_blob(blob: bytes) -> tuple[str, bytes, bytes]:
    if len(blob) < 2 or blob[:1] != _BINARY_VERSION:
        raise DecryptionError("not a v1 encrypted blob")
    start = 2 + blob[1]
    kid_raw, nonce, sealed = (
        blob[2:start],
        blob[start : start + _NONCE_BYTES],
        blob[start + _NONCE_BYTES :],
    )
    if len(nonce) != _NONCE_BYTES or len(sealed) < 16:
        raise DecryptionError("malformed encrypted blob")
    try:
        return kid_raw.decode(), nonce, sealed
    except UnicodeDecodeError:
        raise DecryptionError("malformed encrypted blob") from None


class BlindIndex:
    """HMAC-SHA256 of a value, for exact-match lookups over encrypted fields.

    The caller normalises the value first (СНИЛС as 11 digits, a phone as ``+7XXXXXXXXXX``,
    an e-mail lower-cased): the index matches bytes, so ``"123-456-789 64"`` and
    ``"12345678964"`` would be two different people. ``purpose`` (``"snils"``, ``"phone"``,
    ``"email"`` …) is part of the MAC input, so equal strings of different kinds never
    collide and one index cannot be joined against another.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError("the blind index key must be at least 32 bytes")
        self._key = key

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> BlindIndex:
        if not settings.emk_blind_index_key:
            raise ValueError("EMK_BLIND_INDEX_KEY is not set")
        # A single key, decoded exactly as a keyring's values are (padding optional).
        return cls(decode_keyring({"index": settings.emk_blind_index_key})["index"])

    def index(self, value: str, *, purpose: str) -> str:
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(f"a blind index purpose is a short lower-case name, not {purpose!r}")
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


# --- sealed boxes (DeliverOtp) ----------------------------------------------------


def sealing_public_key(private_key: bytes) -> bytes:
    """The raw 32-byte X25519 public key of a raw private key (for key distribution)."""
    return _x25519_private(private_key, "private").public_key().public_bytes_raw()


def seal(
    plaintext: bytes, *, recipient_public_key: bytes, kid: str, associated_data: bytes
) -> SealedBox:
    """Encrypt ``plaintext`` so that only the holder of the private key ``kid`` reads it.

    ``associated_data`` is the id of the event carrying the box.
    """
    if len(recipient_public_key) != _KEY_BYTES:
        raise ValueError(f"sealing key {kid!r} must be a raw 32-byte X25519 key")
    recipient = X25519PublicKey.from_public_bytes(recipient_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _box_key(ephemeral.exchange(recipient), ephemeral_public, recipient_public_key)
    nonce = os.urandom(_NONCE_BYTES)
    return SealedBox(
        kid=kid,
        ephemeral_public_key=_b64encode(ephemeral_public),
        nonce=_b64encode(nonce),
        ciphertext=_b64encode(AESGCM(key).encrypt(nonce, plaintext, associated_data)),
    )


def open_sealed(
    box: SealedBox, *, private_keys: Mapping[str, bytes], associated_data: bytes
) -> bytes:
    """Open a box sealed for one of ``private_keys`` (a keyring: old keys still open)."""
    raw_private = private_keys.get(box.kid)
    if raw_private is None:
        raise DecryptionError(f"unknown sealing key {box.kid[:40]!r}")
    private = _x25519_private(raw_private, box.kid)
    ephemeral_public = _b64decode(box.ephemeral_public_key)
    nonce = _b64decode(box.nonce)
    if len(ephemeral_public) != _KEY_BYTES or len(nonce) != _NONCE_BYTES:
        raise DecryptionError(f"key {box.kid!r}: malformed sealed box")
    try:
        # cryptography refuses low-order points (an all-zero shared secret) with ValueError.
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        key = _box_key(shared, ephemeral_public, private.public_key().public_bytes_raw())
        return AESGCM(key).decrypt(nonce, _b64decode(box.ciphertext), associated_data)
    except (InvalidTag, ValueError):
        raise DecryptionError(f"key {box.kid!r}: tampered, or another event") from None


def _box_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    # Both public keys in the salt bind the key to this exchange, not just the secret.
    return HKDF(
        algorithm=hashes.SHA256(),
        length=_KEY_BYTES,
        salt=ephemeral_public + recipient_public,
        info=_SEALED_INFO,
    ).derive(shared)


def _x25519_private(raw: bytes, name: str) -> X25519PrivateKey:
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"sealing key {name!r} must be a raw 32-byte X25519 key")
    return X25519PrivateKey.from_private_bytes(raw)
