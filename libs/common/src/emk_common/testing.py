"""Helpers for the project's tests: waiting on a condition with a deadline (never a bare
sleep), and access tokens for a service under test that trusts a key of the test's own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emk_common.auth import AccessTokenVerifier, StaticKeys

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; after ``within`` seconds, fail."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        try:
            # The deadline holds even when one probe hangs (a stuck network call).
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + interval):
                last = await probe()
        except TimeoutError:
            raise AssertionError(
                f"{what}: a probe was still running after {within:.0f} s"
            ) from None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {within:.0f} s waiting for {what}; last: {last!r}"
            )
        await asyncio.sleep(interval)


_TEST_KEY = Ed25519PrivateKey.generate()
_TEST_KID = "test-key"


def signed_token(user_id: str, role: str, *, ttl_seconds: int = 600) -> str:
    """An access token as identity issues it, signed with the tests' own key."""
    now = int(time.time())
    claims = {
        "iss": "emk-identity", "aud": "emk", "sub": user_id, "role": role, "iat": now,
        "exp": now + ttl_seconds, "jti": uuid.uuid4().hex, "sid": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, _TEST_KEY, algorithm="EdDSA", headers={"kid": _TEST_KID})


def trusting_verifier() -> AccessTokenVerifier:
    """What a service under test sets as ``app.state.access_verifier`` to trust
    :func:`signed_token` (the end-to-end suite uses identity's real tokens and JWKS)."""
    return AccessTokenVerifier(
        StaticKeys({_TEST_KID: _TEST_KEY.public_key()}), issuer="emk-identity", audience="emk"
    )


@dataclass(frozen=True)
class Caller:
    """Someone calling a service under test."""

    user_id: str
    role: str = "citizen"

    @classmethod
    def new(cls, role: str = "citizen") -> Caller:
        return cls(uuid.uuid4().hex, role)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {signed_token(self.user_id, self.role)}"}
