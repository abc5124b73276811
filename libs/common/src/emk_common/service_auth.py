"""Service-to-service tokens for the ``/internal`` APIs.

The calling service signs a short-lived JWT with its own Ed25519 key; the callee checks
it against the public keys of every service and its own list of trusted callers. No
shared secret: a compromised service can speak only as itself, and only to those who
trust it. The header ``kid`` is ``<service>:<key id>`` so a key is looked up in the
ring of the service the token claims to come from, and that claim must match ``iss``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from emk_common import eddsa
from emk_common.problems import Problem
from emk_common.settings import ServiceSettings

__all__ = [
    "SERVICE_TOKEN_TYPE",
    "ServiceAuth",
    "ServiceTokenIssuer",
    "ServiceTokenVerifier",
    "audience_of",
    "public_key_for",
    "require_service",
]

SERVICE_TOKEN_TYPE = "service"  # noqa: S105 - a claim value, not a secret
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "exp", "jti"]
_log = logging.getLogger(__name__)


def audience_of(service: str) -> str:
    return f"emk:{service}"


def public_key_for(seed: bytes) -> bytes:
    """The raw 32-byte public key of a raw 32-byte Ed25519 seed (for key distribution)."""
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


class ServiceTokenIssuer:
    """Mints this service's tokens, one cached token per audience.

    A token is reused until less than a third of its lifetime is left, so a burst of
    internal calls costs one signature, and a callee never receives a token that
    expires in flight.
    """

    def __init__(
        self,
        service: str,
        keyring: Mapping[str, bytes],
        active_kid: str | None,
        ttl_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a service token's ttl must be positive")
        if not active_kid:
            if len(keyring) != 1:
                raise ValueError(
                    f"{service}: name the active signing key (signing_kid) among {sorted(keyring)}"
                )
            [active_kid] = keyring
        if active_kid not in keyring:
            raise ValueError(f"{service}: signing key {active_kid!r} is not in the keyring")
        self.service = service
        self._key = _private_key(keyring[active_kid], f"{service}:{active_kid}")
        self._kid = f"{service}:{active_kid}"
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ServiceTokenIssuer:
        return cls(
            settings.service_name,
            settings.signing_keyring(),
            settings.signing_kid or None,
            settings.service_token_ttl_seconds,
        )

    def token_for(self, audience: str) -> str:
        """A token for calling the service named ``audience``."""
        now = self._clock()
        cached = self._cache.get(audience)
        if cached is not None and cached[1] - now > self._ttl / 3:
            return cached[0]
        issued_at = int(now)
        expires_at = issued_at + self._ttl
        claims = {
            "iss": self.service,
            "sub": self.service,
            "aud": audience_of(audience),
            "iat": issued_at,
            "exp": expires_at,
            "jti": str(uuid.uuid4()),
            "typ": SERVICE_TOKEN_TYPE,
        }
        token = jwt.encode(claims, self._key, algorithm=eddsa.ALGORITHM, headers={"kid": self._kid})
        self._cache[audience] = (token, float(expires_at))
        return token


class ServiceTokenVerifier:
    """Checks tokens addressed to this service and names the caller."""

    def __init__(
        self,
        audience: str,
        public_keyrings: Mapping[str, Mapping[str, bytes]],
        trusted_callers: Iterable[str],
        *,
        leeway_seconds: float = 5.0,
        max_lifetime_seconds: int = 600,
    ) -> None:
        if not 0 <= leeway_seconds <= 10:
            raise ValueError("clock leeway must be between 0 and 10 seconds")
        self.audience = audience
        self._aud = audience_of(audience)
        self._keys = {
            service: {kid: _public_key(raw, f"{service}:{kid}") for kid, raw in ring.items()}
            for service, ring in public_keyrings.items()
        }
        self._trusted = frozenset(trusted_callers)
        self._leeway = leeway_seconds
        # A stolen signing key should not mint tokens that outlive its revocation by days.
        self._max_lifetime = max_lifetime_seconds

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ServiceTokenVerifier:
        return cls(settings.service_name, settings.public_keyrings(), settings.trusted_callers)

    def verify(self, token: str) -> str:
        """Return the calling service's name; raise a 401 or 403 :class:`Problem`."""
        try:
            kid = eddsa.key_id(token)
        except eddsa.HeaderRejectedError as exc:
            raise _refused(str(exc)) from None
        caller, _, key_id = kid.partition(":")
        key = self._keys.get(caller, {}).get(key_id)
        if key is None:
            raise _refused(f"unknown key {str(kid)[:80]!r}")
        try:
            claims = eddsa.decode(
                token, key, audience=self._aud, leeway=self._leeway, required=_REQUIRED_CLAIMS
            )
        except eddsa.InvalidTokenError as exc:
            raise _refused(f"{type(exc).__name__} for key {kid!r}") from None
        if claims.get("typ") != SERVICE_TOKEN_TYPE:
            raise _refused(f"not a service token (key {kid!r})")
        if claims["iss"] != caller or claims["sub"] != caller:
            raise _refused(f"issuer {str(claims['iss'])[:40]!r} signed with key {kid!r}")
        if claims["exp"] - claims["iat"] > self._max_lifetime:
            raise _refused(f"lifetime over {self._max_lifetime} s (key {kid!r})")
        if caller not in self._trusted:
            _log.warning("service %s is not a trusted caller of %s", caller, self.audience)
            raise Problem.forbidden(f"Сервису «{caller}» не разрешено обращаться к этому API.")
        return caller


def _refused(reason: str) -> Problem:
    _log.warning("service token refused: %s", reason)
    return Problem.not_authenticated("Нужен действительный служебный токен.")


def _private_key(seed: bytes, name: str) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise ValueError(f"signing key {name} must be a raw 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public_key(raw: bytes, name: str) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise ValueError(f"public key {name} must be a raw 32-byte Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(raw)


_bearer = HTTPBearer(
    scheme_name="ServiceToken",
    description="A short-lived JWT signed by the calling service.",
    auto_error=False,
)


def require_service(
    verifier: ServiceTokenVerifier,
) -> Callable[..., Coroutine[Any, Any, str]]:
    """A dependency returning the verified caller's name::

    CallingService = Annotated[str, Depends(require_service(verifier))]
    """

    async def calling_service(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None:
            raise Problem.not_authenticated("Нужен служебный токен.")
        return verifier.verify(credentials.credentials)

    return calling_service


def only_services(
    caller: Callable[..., Coroutine[Any, Any, str]], *services: str
) -> Callable[..., Coroutine[Any, Any, str]]:
    """A route's own dependency, for an internal API whose callers are trusted each for some
    routes only: ``caller`` (:func:`require_service`) verified the token; a service not among
    ``services`` is refused (403)."""

    async def allowed(
        # A default, not an annotation: annotations are strings here, and ``caller`` is local.
        service: str = Depends(caller),
    ) -> str:
        if service not in services:
            raise Problem.forbidden(f"Сервису «{service}» не разрешено обращаться к этому API.")
        return service

    return allowed


class ServiceAuth(httpx.Auth):
    """``httpx.AsyncClient(auth=ServiceAuth(issuer, "identity"))``: every request carries a
    valid token for the ``identity`` service."""

    def __init__(self, issuer: ServiceTokenIssuer, audience: str) -> None:
        self._issuer = issuer
        self._audience = audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._issuer.token_for(self._audience)}"
        yield request
