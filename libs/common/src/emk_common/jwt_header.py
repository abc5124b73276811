"""The first check of every token we accept: its header, before any key is touched.

``alg: none`` and HS256 keyed with a public key are the classic forgeries; the algorithm is
never the token's choice. Both token verifiers (users' and services') start here.
"""

from __future__ import annotations

import jwt

ALGORITHM = "EdDSA"


class HeaderRejectedError(Exception):
    """Why the header was refused (for the log; never shown to the caller)."""


def eddsa_key_id(token: str) -> str:
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
