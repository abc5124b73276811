from __future__ import annotations

import base64
import os

import pytest

from emk_common.catalog import SealedBox
from emk_common.crypto import (
    BlindIndex,
    DecryptionError,
    FieldCipher,
    open_sealed,
    seal,
    sealing_public_key,
)
from emk_common.settings import ServiceSettings, encode_keyring

K1, K2 = os.urandom(32), os.urandom(32)
SNILS = "12345678964"
CONTEXT = "users.snils:u-1"


def flip_bit(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    raw[0] ^= 0x01
    parts[part] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    return ".".join(parts)


# --- FieldCipher ------------------------------------------------------------------


def test_round_trip_and_token_shape() -> None:
    cipher = FieldCipher({"k1": K1}, "k1")
    token = cipher.encrypt(SNILS, context=CONTEXT)

    assert cipher.decrypt(token, context=CONTEXT) == SNILS
    version, kid, nonce, _ = token.split(".")
    assert (version, kid) == ("v1", "k1")
    assert len(base64.urlsafe_b64decode(nonce + "=")) == 12
    assert SNILS not in token
    assert SNILS.encode() not in base64.urlsafe_b64decode(token.split(".")[3] + "==")
    assert cipher.decrypt(cipher.encrypt("", context=CONTEXT), context=CONTEXT) == ""
    assert cipher.decrypt(cipher.encrypt("Иванов", context="c"), context="c") == "Иванов"


def test_fresh_nonce_every_time() -> None:
    cipher = FieldCipher({"k1": K1}, None)
    tokens = {cipher.encrypt(SNILS, context=CONTEXT) for _ in range(20)}
    assert len(tokens) == 20


def test_another_context_does_not_decrypt() -> None:
    cipher = FieldCipher({"k1": K1}, "k1")
    token = cipher.encrypt(SNILS, context="users.snils:u-1")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="users.snils:u-2")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="users.passport:u-1")


@pytest.mark.parametrize("part", [2, 3])
def test_a_flipped_bit_does_not_decrypt(part: int) -> None:
    cipher = FieldCipher({"k1": K1}, "k1")
    token = cipher.encrypt(SNILS, context=CONTEXT)
    with pytest.raises(DecryptionError):
        cipher.decrypt(flip_bit(token, part), context=CONTEXT)


def test_a_rewritten_kid_does_not_decrypt() -> None:
    # the same key under two names: the kid is authenticated, not just a lookup hint
    cipher = FieldCipher({"k1": K1, "alias": K1}, "k1")
    token = cipher.encrypt(SNILS, context=CONTEXT)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token.replace("v1.k1.", "v1.alias.", 1), context=CONTEXT)


@pytest.mark.parametrize(
    "token", ["", "garbage", "v2.k1.AAAA.AAAA", "v1.k1.AAAA.AAAA", "v1..AAAAAAAAAAAAAAAA.AAAA"]
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(DecryptionError):
        FieldCipher({"k1": K1}, "k1").decrypt(token, context=CONTEXT)


def test_unknown_kid_does_not_decrypt() -> None:
    token = FieldCipher({"k1": K1}, "k1").encrypt(SNILS, context=CONTEXT)
    with pytest.raises(DecryptionError, match="unknown field key 'k1'"):
        FieldCipher({"k2": K1}, "k2").decrypt(token, context=CONTEXT)


def test_rotation() -> None:
    old = FieldCipher({"k1": K1}, "k1").encrypt(SNILS, context=CONTEXT)
    ring = FieldCipher({"k1": K1, "k2": K2}, "k2")

    assert ring.decrypt(old, context=CONTEXT) == SNILS
    assert ring.needs_rotation(old)
    rotated = ring.rotate(old, context=CONTEXT)
    assert rotated.split(".")[1] == "k2"
    assert not ring.needs_rotation(rotated)
    assert ring.rotate(rotated, context=CONTEXT) == rotated
    assert FieldCipher({"k2": K2}, None).decrypt(rotated, context=CONTEXT) == SNILS
    with pytest.raises(DecryptionError):
        ring.rotate(old, context="users.snils:u-2")


def test_bytes_round_trip_and_rotation() -> None:
    data = os.urandom(1000)
    blob = FieldCipher({"k1": K1}, "k1").encrypt_bytes(data, context="documents:d-1")
    ring = FieldCipher({"k1": K1, "k2": K2}, "k2")

    assert data not in blob
    assert ring.decrypt_bytes(blob, context="documents:d-1") == data
    assert ring.needs_rotation(blob)
    assert not ring.needs_rotation(ring.encrypt_bytes(data, context="documents:d-1"))
    with pytest.raises(DecryptionError):
        ring.decrypt_bytes(blob, context="documents:d-2")
    tampered = bytearray(blob)
    tampered[-1] ^= 0x80
    with pytest.raises(DecryptionError):
        ring.decrypt_bytes(bytes(tampered), context="documents:d-1")
    with pytest.raises(DecryptionError):
        ring.decrypt_bytes(b"\x01\x05k", context="documents:d-1")


def test_keyring_validation() -> None:
    with pytest.raises(ValueError, match=r"\['a', 'b'\]"):
        FieldCipher({"a": K1, "b": K2}, None)
    with pytest.raises(ValueError, match="not in"):
        FieldCipher({"a": K1}, "b")
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher({"a": b"short"}, "a")
    with pytest.raises(ValueError, match="no dots"):
        FieldCipher({"a.b": K1}, None)
    with pytest.raises(ValueError, match="empty"):
        FieldCipher({}, None)


def test_cipher_from_settings() -> None:
    token = FieldCipher.from_settings(
        ServiceSettings(emk_field_keys=encode_keyring({"k1": K1}))
    ).encrypt(SNILS, context=CONTEXT)
    both = ServiceSettings(emk_field_keys=encode_keyring({"k1": K1, "k2": K2}), emk_field_kid="k2")

    assert FieldCipher.from_settings(both).decrypt(token, context=CONTEXT) == SNILS
    assert FieldCipher.from_settings(both).active_kid == "k2"
    with pytest.raises(ValueError, match=r"EMK_FIELD_KID.*\['k1', 'k2'\]"):
        FieldCipher.from_settings(ServiceSettings(emk_field_keys=both.emk_field_keys))
    with pytest.raises(ValueError, match="EMK_FIELD_KEYS"):
        FieldCipher.from_settings(ServiceSettings())


# --- BlindIndex -------------------------------------------------------------------


def test_blind_index() -> None:
    index = BlindIndex(K1)
    digest = index.index(SNILS, purpose="snils")

    assert digest == index.index(SNILS, purpose="snils")
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert SNILS not in digest
    assert BlindIndex(K2).index(SNILS, purpose="snils") != digest
    assert index.index(SNILS, purpose="phone") != digest
    assert index.index("12345678965", purpose="snils") != digest
    # the purpose and the value cannot be shifted into one another
    assert index.index("b", purpose="a") != index.index("", purpose="ab")
    with pytest.raises(ValueError, match="purpose"):
        index.index(SNILS, purpose="")
    with pytest.raises(ValueError, match="purpose"):
        index.index(SNILS, purpose="snils\x00phone")
    with pytest.raises(ValueError, match="32 bytes"):
        BlindIndex(b"short")


def test_blind_index_from_settings_tolerates_missing_padding() -> None:
    key = os.urandom(32)
    unpadded = base64.urlsafe_b64encode(key).decode().rstrip("=")
    padded = base64.b64encode(key).decode()
    expected = BlindIndex(key).index("a@b.ru", purpose="email")

    for value in (unpadded, padded):
        settings = ServiceSettings(emk_blind_index_key=value)
        assert BlindIndex.from_settings(settings).index("a@b.ru", purpose="email") == expected
    with pytest.raises(ValueError, match="EMK_BLIND_INDEX_KEY"):
        BlindIndex.from_settings(ServiceSettings())


# --- sealed boxes -----------------------------------------------------------------

PRIVATE = os.urandom(32)
PUBLIC = sealing_public_key(PRIVATE)
EVENT_ID = b"5f0c2a9e-1c1b-4c55-9b55-3f6d2b1f0a01"
SECRET = b'{"destination": "+79991234567", "code": "123456"}'


def sealed(plaintext: bytes = SECRET) -> SealedBox:
    return seal(plaintext, recipient_public_key=PUBLIC, kid="n1", associated_data=EVENT_ID)


def test_sealed_box_round_trip() -> None:
    box = sealed()

    assert box.kid == "n1"
    assert open_sealed(box, private_keys={"n1": PRIVATE}, associated_data=EVENT_ID) == SECRET
    assert b"123456" not in box.model_dump_json().encode()
    # a box survives the event's JSON round trip
    again = SealedBox.model_validate_json(box.model_dump_json())
    assert open_sealed(again, private_keys={"n0": K1, "n1": PRIVATE}, associated_data=EVENT_ID)


def test_two_seals_differ() -> None:
    first, second = sealed(), sealed()
    assert first.ephemeral_public_key != second.ephemeral_public_key
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_sealed_box_for_another_event_does_not_open() -> None:
    with pytest.raises(DecryptionError):
        open_sealed(sealed(), private_keys={"n1": PRIVATE}, associated_data=b"another-event")


def test_sealed_box_with_a_wrong_or_unknown_key_does_not_open() -> None:
    with pytest.raises(DecryptionError):
        open_sealed(sealed(), private_keys={"n1": os.urandom(32)}, associated_data=EVENT_ID)
    with pytest.raises(DecryptionError, match="unknown sealing key 'n1'"):
        open_sealed(sealed(), private_keys={"n2": PRIVATE}, associated_data=EVENT_ID)


@pytest.mark.parametrize("field", ["ephemeral_public_key", "nonce", "ciphertext"])
def test_tampered_sealed_box_does_not_open(field: str) -> None:
    box = sealed()
    value = getattr(box, field)
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    raw[-1] ^= 0x01
    forged = box.model_copy(
        update={field: base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")}
    )
    with pytest.raises(DecryptionError):
        open_sealed(forged, private_keys={"n1": PRIVATE}, associated_data=EVENT_ID)


def test_sealed_box_with_a_low_order_point_does_not_open() -> None:
    box = sealed().model_copy(update={"ephemeral_public_key": "A" * 43})  # the zero point
    with pytest.raises(DecryptionError):
        open_sealed(box, private_keys={"n1": PRIVATE}, associated_data=EVENT_ID)


def test_seal_refuses_a_malformed_key() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        seal(SECRET, recipient_public_key=b"short", kid="n1", associated_data=EVENT_ID)
