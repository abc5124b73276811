"""The signature test vector of the README: canonical bytes, their hash, the signature."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.adapters.ed25519 import Ed25519Scheme

README = Path(__file__).resolve().parents[2] / "README.md"


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def vector() -> dict[str, Any]:
    block = re.search(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None, "the README lost its test vector"
    found: dict[str, Any] = json.loads(block.group(1))
    return found


def test_the_canonical_form_is_rfc_8785() -> None:
    v = vector()
    canonical = rfc8785.dumps(v["record"])
    assert canonical == v["canonical_utf8"].encode()
    assert hashlib.sha256(canonical).hexdigest() == v["canonical_sha256_hex"]


def test_the_seed_makes_the_public_key_and_the_signature() -> None:
    v = vector()
    private = Ed25519PrivateKey.from_private_bytes(_b64(v["private_key_seed"]))
    assert private.public_key().public_bytes_raw() == _b64(v["public_key"])
    signature = private.sign(rfc8785.dumps(v["record"]))  # Ed25519 is deterministic
    assert signature == _b64(v["signature"])


def test_the_scheme_accepts_the_vector_and_nothing_else() -> None:
    v = vector()
    scheme = Ed25519Scheme()
    key, signature = _b64(v["public_key"]), _b64(v["signature"])
    assert scheme.verify(key, rfc8785.dumps(v["record"]), signature)
    tampered = {**v["record"], "conclusion": "unfit"}
    assert not scheme.verify(key, rfc8785.dumps(tampered), signature)
    assert not scheme.verify(key, rfc8785.dumps(v["record"]), signature[:-1] + b"\x00")
    assert not scheme.public_key_ok(b"short")
