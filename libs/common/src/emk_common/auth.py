"""Users' access tokens, verified locally by every service.

Identity signs short-lived JWTs with Ed25519 (``alg: EdDSA``, header ``kid``) and publishes
its public keys at ``{identity_url}/.well-known/jwks.json``. Every service checks every
token itself (zero trust: nobody relies on the gateway having looked), with keys from a
:class:`JwksCache`; identity checks its own with its key store (any :class:`KeySource`).

Wiring: put the verifier on ``app.state.access_verifier``; routes depend on it::

    app.state.access_verifier = AccessTokenVerifier.from_settings(settings)

    @router.get("/book")
    async def book(citizen: Annotated[Principal, Depends(require_roles("citizen"))]) -> Book:
        ...

``CurrentPrincipal`` is any signed-in user. Refusals are 401 problems whose detail says
only "expired" or "sign in"; the reason is logged (never the token).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, cast, get_args
from urllib.parse import unquote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from emk_common.jwt_header import ALGORITHM as _ALGORITHM
from emk_common.jwt_header import HeaderRejectedError, eddsa_key_id
from emk_common.problems import Problem
from emk_common.settings import ServiceSettings

__all__ = [
    "ROLES",
    "AccessReason",
    "AccessTokenVerifier",
    "CurrentPrincipal",
    "JwksCache",
    "KeySource",
    "Principal",
    "Role",
    "StaticKeys",
    "access_reason",
    "current_principal",
    "remember_principal",
    "require_roles",
]

Role = Literal["citizen", "medical_worker", "operator", "employer", "admin"]
ROLES: frozenset[str] = frozenset(get_args(Role))

_REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "iat", "exp", "jti"]
_SIGN_IN = "Требуется вход в систему."
_EXPIRED = "Сеанс истёк, войдите снова."
# A JWK we verify with: (member, required value, value assumed when absent).
_JWK_MUST = (
    ("kty", "OKP", None),
    ("crv", "Ed25519", None),
    ("alg", _ALGORITHM, _ALGORITHM),
    ("use", "sig", "sig"),
)
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified claims of an access token."""

    user_id: str
    role: Role
    organization_id: str | None
    session_id: str | None
    token_id: str
    # When the person last proved who they are with the second factor (OIDC ``auth_time``,
    # Unix seconds): refreshing tokens keeps it, so a step-up check can ask for a fresh login.
    auth_time: int | None = None


class KeySource(Protocol):
    """Where the verifier finds identity's public key for a ``kid`` (``None``: unknown)."""

    async def key(self, kid: str) -> Ed25519PublicKey | None: ...


class StaticKeys:
    """A fixed set of keys: for tests, and for whoever holds the keys already."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class JwksCache:
    """Identity's JWKS, cached by ``kid``.

    Keys are re-read after ``ttl`` seconds, and at once when a token names an unknown
    ``kid`` (identity rotated its key). Every fetch, whatever caused it, is at least
    ``min_refresh_interval`` apart, and concurrent callers share one fetch, so a flood of
    tokens with made-up kids costs identity one request per interval. While identity is
    unreachable the last keys stay in use: a known key keeps working, an unknown one is
    a 401 for the client and a warning in our log. A successful fetch replaces the set, so
    a key identity stops publishing stops being accepted.
    Without ``client`` each fetch opens its own short-lived client (fetches are rare).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        client: httpx.AsyncClient | None = None,
        min_refresh_interval: float = 5.0,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._ttl = ttl
        self._client = client
        self._min_interval = min_refresh_interval
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._generation = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, client: httpx.AsyncClient | None = None
    ) -> JwksCache:
        url = f"{settings.identity_url.rstrip('/')}/.well-known/jwks.json"
        return cls(url, ttl=settings.jwks_cache_seconds, client=client)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if stale or kid not in self._keys:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return  # someone else fetched while we waited
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return
            self._attempted_at = now
            try:
                self._keys = _parse_jwks(await self._fetch())
                self._fetched_at = now
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning(
                    "JWKS %s unavailable (%s), keeping %d cached keys",
                    self.url,
                    type(exc).__name__,
                    len(self._keys),
                )
            finally:
                # Bumped once the fetch is over, so whoever queued behind it uses its result.
                self._generation += 1

    async def _fetch(self) -> Any:
        if self._client is not None:
            response = await self._client.get(self.url, timeout=self._timeout)
        else:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(self.url)
        response.raise_for_status()
        return response.json()


def _parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWKS; anything else in it is skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or any(
            entry.get(name, default) != want for name, want, default in _JWK_MUST
        ):
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not (kid and isinstance(kid, str) and isinstance(x, str)):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


class AccessTokenVerifier:
    """Checks an access token and returns its :class:`Principal`, or raises a 401 problem.

    ``is_revoked`` is identity's hook to refuse the tokens of a session that was logged
    out; other services accept a token until it expires (minutes).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = 5.0,
        is_revoked: Callable[[Principal], Awaitable[bool]] | None = None,
    ) -> None:
        if not 0 <= leeway_seconds <= 10:
            raise ValueError("clock leeway must be between 0 and 10 seconds")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._is_revoked = is_revoked

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
            kid = eddsa_key_id(token)
        except HeaderRejectedError as exc:
            raise _refused(str(exc)) from None
        key = await self._keys.key(kid)
        if key is None:
            raise _refused(f"unknown key {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise _refused(f"expired (key {kid!r})", _EXPIRED) from None
        except jwt.InvalidTokenError as exc:
            raise _refused(f"{type(exc).__name__} for key {kid!r}") from None
        principal = _principal(claims, kid)
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


def _refused(reason: str, detail: str = _SIGN_IN) -> Problem:
    _log.warning("access token refused: %s", reason)
    problem = Problem.not_authenticated(detail)
    # RFC 6750 §3.1: a client seeing invalid_token knows to refresh or sign in again.
    problem.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return problem


# --- FastAPI ----------------------------------------------------------------------

_bearer = HTTPBearer(
    scheme_name="AccessToken",
    description="A user's access token from identity's /login/verify.",
    auto_error=False,
)


def access_verifier(request: Request) -> AccessTokenVerifier:
    """The app's verifier, set once at startup as ``app.state.access_verifier``."""
    verifier = getattr(request.app.state, "access_verifier", None)
    if not isinstance(verifier, AccessTokenVerifier):
        raise RuntimeError("app.state.access_verifier is not set to an AccessTokenVerifier")
    return verifier


_VERIFIED = "emk_verified_principal"


def remember_principal(scope: MutableMapping[str, Any], token: str, principal: Principal) -> None:
    """Keep a token's principal for the rest of this request (a middleware verified it)."""
    scope.setdefault("state", {})[_VERIFIED] = (token, principal)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The signed-in user; a 401 problem without a valid ``Authorization: Bearer``."""
    if credentials is None:
        raise Problem.not_authenticated(_SIGN_IN)
    verified = request.scope.get("state", {}).get(_VERIFIED)
    if verified is not None and verified[0] == credentials.credentials:
        return cast(Principal, verified[1])  # verified moments ago in this very request
    return await access_verifier(request).verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency returning the principal if its role is one of ``roles``, else a 403."""
    unknown = {str(role) for role in roles} - ROLES
    if not roles or unknown:
        raise ValueError(f"require_roles needs roles among {sorted(ROLES)}, got {sorted(roles)}")
    allowed = frozenset(roles)

    async def principal_with_role(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            _log.info("role %s may not call a route for %s", principal.role, sorted(allowed))
            raise Problem.forbidden()
        return principal

    return principal_with_role


def access_reason(
    raw: Annotated[str | None, Header(alias="X-Access-Reason", max_length=1500)] = None,
) -> str | None:
    """Why staff read a citizen's data (152-ФЗ: it goes into the access log). HTTP headers
    are ASCII, so Russian text comes percent-encoded UTF-8 (``encodeURIComponent``); plain
    ASCII passes as it is."""
    return unquote(raw).strip()[:500] or None if raw else None


AccessReason = Annotated[str | None, Depends(access_reason)]
