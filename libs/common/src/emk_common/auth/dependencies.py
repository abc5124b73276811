"""What routes depend on: the signed-in principal, a role, the stated reason of a staff read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, MutableMapping
from typing import Annotated, Any, cast
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from emk_common.auth.principal import ROLES, Principal, Role
from emk_common.auth.tokens import SIGN_IN, AccessTokenVerifier
from emk_common.problems import Problem

_log = logging.getLogger(__name__)

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
        raise Problem.not_authenticated(SIGN_IN)
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


async def access_reason(
    raw: Annotated[str | None, Header(alias="X-Access-Reason", max_length=1500)] = None,
) -> str | None:
    """Why staff read a citizen's data (152-ФЗ: it goes into the access log). HTTP headers
    are ASCII, so Russian text comes percent-encoded UTF-8 (``encodeURIComponent``); plain
    ASCII passes as it is."""
    return unquote(raw).strip()[:500] or None if raw else None


AccessReason = Annotated[str | None, Depends(access_reason)]
