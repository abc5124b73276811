"""Ed25519 keys for users' access tokens, and the tokens themselves.

Keys live in MongoDB (the private half encrypted with the field cipher) so every replica
signs with the same active key. Rotation makes a new key active; the previous one stays in
the JWKS until every token it signed has expired, so nobody is logged out by a rotation.
(``identity.ports.TokenKeys``; a KMS or an HSM could take its place.) Reload intervals are
measured on the monotonic clock: they are durations, not moments.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock
from emk_common.crypto import FieldCipher
from identity.ports import PublishedKey

Doc = dict[str, Any]
POINTER = "current"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class _Key:
    kid: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None


class SigningKeys:
    def __init__(
        self,
        collection: AsyncCollection[Doc],
        cipher: FieldCipher,
        *,
        clock: Clock,
        token_ttl: timedelta,
        reload_seconds: float = 30.0,
        unknown_kid_reload_seconds: float = 5.0,
    ) -> None:
        self._collection = collection
        self._cipher = cipher
        self._clock = clock
        self._token_ttl = token_ttl
        self._reload_seconds = reload_seconds
        self._unknown_kid_reload = unknown_kid_reload_seconds
        self._active: _Key | None = None
        self._published: dict[str, Ed25519PublicKey] = {}
        self._loaded_at = 0.0

    async def ensure_active(self) -> None:
        if await self._collection.find_one({"_id": POINTER}) is None:
            kid = await self._create_key()
            try:
                await self._collection.insert_one({"_id": POINTER, "kid": kid})
            except DuplicateKeyError:  # another replica made the first key
                await self._collection.delete_one({"_id": kid})
        await self.reload()

    async def rotate(self) -> str:
        pointer = await self._collection.find_one({"_id": POINTER})
        assert pointer is not None
        kid = await self._create_key()
        await self._collection.update_one(
            {"_id": pointer["kid"]}, {"$set": {"retired_at": self._clock()}}
        )
        await self._collection.update_one({"_id": POINTER}, {"$set": {"kid": kid}})
        await self.reload()
        return kid

    async def _create_key(self) -> str:
        kid = f"user-{uuid.uuid4().hex[:12]}"
        private = Ed25519PrivateKey.generate()
        await self._collection.insert_one(
            {
                "_id": kid,
                "private": self._cipher.encrypt(
                    _b64(private.private_bytes_raw()), context=f"signing_keys:{kid}"
                ),
                "public": _b64(private.public_key().public_bytes_raw()),
                "created_at": self._clock(),
                "retired_at": None,
            }
        )
        return kid

    async def reload(self) -> None:
        pointer = await self._collection.find_one({"_id": POINTER})
        if pointer is None:
            return
        keep_after = self._clock() - self._token_ttl - timedelta(minutes=5)
        published: dict[str, Ed25519PublicKey] = {}
        async for doc in self._collection.find({"_id": {"$ne": POINTER}}):
            if doc["retired_at"] is not None and doc["retired_at"] < keep_after:
                continue
            published[doc["_id"]] = Ed25519PublicKey.from_public_bytes(_unb64(doc["public"]))
            if doc["_id"] == pointer["kid"]:
                sealed = self._cipher.decrypt(doc["private"], context=f"signing_keys:{doc['_id']}")
                seed = _unb64(sealed)
                private = Ed25519PrivateKey.from_private_bytes(seed)
                self._active = _Key(doc["_id"], private.public_key(), private)
        self._published = published
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._reload_seconds:
            await self.reload()

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The key source for verifying our own tokens (same as the JWKS, without HTTP)."""
        await self._fresh()
        # A key made by another replica a moment ago is worth one reload; a flood of made-up
        # kids is not worth one database query each.
        if (
            kid not in self._published
            and time.monotonic() - self._loaded_at > self._unknown_kid_reload
        ):
            await self.reload()
        return self._published.get(kid)

    async def published(self) -> list[PublishedKey]:
        await self._fresh()
        return [
            PublishedKey(kid=kid, x=_b64(k.public_bytes_raw()))
            for kid, k in sorted(self._published.items())
        ]

    async def sign(self, claims: dict[str, Any]) -> str:
        await self._fresh()
        if self._active is None or self._active.private is None:
            raise RuntimeError("no active signing key")
        return jwt.encode(
            claims, self._active.private, algorithm="EdDSA", headers={"kid": self._active.kid}
        )


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
