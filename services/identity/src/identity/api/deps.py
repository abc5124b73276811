"""Dependencies of the identity routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from emk_common.auth import Principal, current_principal, require_roles
from emk_common.http import client_ip as _client_ip
from emk_common.settings import ServiceSettings
from identity.accounts import Accounts
from identity.login import Login
from identity.signing import SigningKeys


@dataclass
class IdentityApp:
    accounts: Accounts
    login: Login
    keys: SigningKeys


def get_app(request: Request) -> IdentityApp:
    app: IdentityApp = request.app.state.identity
    return app


def client_ip(request: Request, settings: ServiceSettings) -> str:
    return _client_ip(request, settings.trusted_proxies)


AppDep = Annotated[IdentityApp, Depends(get_app)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]


def ip_limit(bucket: str, setting: str, window: timedelta) -> Any:
    """A per-client-address limit, checked before the body is even validated."""

    async def check(request: Request, app: AppDep) -> None:
        settings = app.accounts.settings
        limit: int = getattr(settings, setting)
        await app.accounts.limit(bucket, client_ip(request, settings), limit, window)

    return Depends(check)


RegisterLimit = ip_limit("register-ip", "register_per_ip_per_hour", timedelta(hours=1))
VerifyLimit = ip_limit("verify-ip", "verify_per_ip_per_minute", timedelta(minutes=1))
LoginLimit = ip_limit("login-ip", "login_per_ip_per_minute", timedelta(minutes=1))
