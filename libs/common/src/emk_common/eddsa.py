"""The one way a token we accept is decoded: EdDSA only, its header checked before any key
is touched.

``alg: none`` and HS256 keyed with a public key are the classic forgeries; the algorithm is
never the token's choice. Both token verifiers (users' and services') go through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "EdDSA"
InvalidTokenError = jwt.InvalidTokenError
ExpiredSignatureError = jwt.ExpiredSignatureError


class HeaderRejectedError(Exception):
    """Why the header was refused (for the log; never shown to the caller)."""


def key_id(token: str) -> str:
    """The header's ``kid`` of an EdDSA token; :class:`HeaderRejectedError` for anything else."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise HeaderRejectedError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise HeaderRejectedError(f"algorithm {str(header.get('alg'))[:20]!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise HeaderRejectedError("no usable kid")
    return kid


def decode(
    token: str,
    key: Ed25519PublicKey,
    *,
    audience: str,
    required: Sequence[str],
    leeway: float,
    issuer: str | None = None,
) -> dict[str, Any]:
    """The verified claims; :class:`InvalidTokenError` (or its ``ExpiredSignatureError``)
    for a bad signature, a wrong audience or issuer, a missing claim, or a lapsed token."""
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer,
        leeway=leeway,
        options={"require": list(required), "strict_aud": True},
    )
    return claims
