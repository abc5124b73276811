"""A user's access token → a :class:`Principal`, or a 401 problem that says only "expired"
or "sign in" (the reason is logged, never the token)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from emk_common import eddsa
from emk_common.auth.keys import JwksCache, KeySource
from emk_common.auth.principal import ROLES, Principal, Role
from emk_common.problems import Problem
from emk_common.revocation import RevokedSessions
from emk_common.settings import ServiceSettings

_REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "iat", "exp", "jti"]
SIGN_IN = "Требуется вход в систему."
_EXPIRED = "Сеанс истёк, войдите снова."
_log = logging.getLogger(__name__)


class AccessTokenVerifier:
    """Checks an access token and returns its :class:`Principal`, or raises a 401 problem.

    A token of a session in ``revoked`` (the sessions identity revoked, as this replica read
    them: :mod:`emk_common.revocation`) is refused as an expired one is; ``create_app`` hands
    the app's verifier that set (:meth:`refuse_revoked`). ``is_revoked`` is identity's own
    hook: it knows at once, from its database, that a session has ended.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = 5.0,
        is_revoked: Callable[[Principal], Awaitable[bool]] | None = None,
        revoked: RevokedSessions | None = None,
    ) -> None:
        if not 0 <= leeway_seconds <= 10:
            raise ValueError("clock leeway must be between 0 and 10 seconds")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._is_revoked = is_revoked
        self._revoked = revoked

    async def warm(self) -> None:
        """Have the keys in hand before the first token (see ``JwksCache.warm``)."""
        warm = getattr(self._keys, "warm", None)
        if warm is not None:
            await warm()

    def refuse_revoked(self, revoked: RevokedSessions) -> None:
        """Refuse from now on the tokens of the sessions in ``revoked``."""
        self._revoked = revoked

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, keys: KeySource | None = None
    ) -> AccessTokenVerifier:
        return cls(
            keys or JwksCache.from_settings(settings),
            issuer=settings.access_token_issuer,
            audience=settings.access_token_audience,
        )

    async def verify(self, token: str) -> Principal:
        try:
            kid = eddsa.key_id(token)
        except eddsa.HeaderRejectedError as exc:
            raise _refused(str(exc)) from None
        key = await self._keys.key(kid)
        if key is None:
            raise _refused(f"unknown key {kid!r}")
        try:
            claims = eddsa.decode(
                token,
                key,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                required=_REQUIRED_CLAIMS,
            )
        except eddsa.ExpiredSignatureError:
            raise _refused(f"expired (key {kid!r})", _EXPIRED) from None
        except eddsa.InvalidTokenError as exc:
            raise _refused(f"{type(exc).__name__} for key {kid!r}") from None
        principal = _principal(claims, kid)
        # A revoked session's token is refused as an expired one: the client signs in again.
        if self._revoked is not None and self._revoked.is_revoked(principal.session_id):
            raise _refused(f"session {principal.session_id!r} revoked", _EXPIRED)
        if self._is_revoked is not None and await self._is_revoked(principal):
            raise _refused(f"session {principal.session_id!r} revoked")
        return principal


def _principal(claims: dict[str, Any], kid: str) -> Principal:
    # A service token (typ "service") is signed by another key and addressed to another
    # audience, so it fails above; refusing any foreign typ says so explicitly.
    if claims.get("typ", "access") != "access":
        raise _refused(f"typ {str(claims.get('typ'))[:20]!r} (key {kid!r})")
    role, org, sid = claims["role"], claims.get("org"), claims.get("sid")
    auth_time = claims.get("auth_time")
    if not isinstance(role, str) or role not in ROLES:
        raise _refused(f"unknown role {str(role)[:30]!r} (key {kid!r})")
    if not claims["sub"] or not isinstance(org, str | None) or not isinstance(sid, str | None):
        raise _refused(f"malformed sub/org/sid (key {kid!r})")
    if auth_time is not None and (isinstance(auth_time, bool) or not isinstance(auth_time, int)):
        raise _refused(f"malformed auth_time (key {kid!r})")
    return Principal(
        user_id=claims["sub"],
        role=cast("Role", role),
        organization_id=org or None,
        session_id=sid or None,
        token_id=claims["jti"],
        auth_time=auth_time,
    )


def _refused(reason: str, detail: str = SIGN_IN) -> Problem:
    _log.warning("access token refused: %s", reason)
    problem = Problem.not_authenticated(detail)
    # RFC 6750 §3.1: a client seeing invalid_token knows to refresh or sign in again.
    problem.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return problem
