"""What the identity routes depend on."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from emk_common.auth import Principal, current_principal, require_roles
from emk_common.http import client_ip
from identity.service import Identity
from identity.service.accesses import WhoSaw


async def get_identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def get_who_saw(request: Request) -> WhoSaw:
    who_saw: WhoSaw = request.app.state.who_saw
    return who_saw


WhoSawDep = Annotated[WhoSaw, Depends(get_who_saw)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]


def ip_limit(bucket: str, setting: str, window: timedelta) -> Any:
    """A per-client-address limit, checked before the body is even validated."""

    async def check(request: Request, identity: IdentityDep) -> None:
        settings = identity.settings
        limit: int = getattr(settings, setting)
        await identity.limit(bucket, client_ip(request, settings.trusted_proxies), limit, window)

    return Depends(check)


RegisterLimit = ip_limit("register-ip", "register_per_ip_per_hour", timedelta(hours=1))
VerifyLimit = ip_limit("verify-ip", "verify_per_ip_per_minute", timedelta(minutes=1))
LoginLimit = ip_limit("login-ip", "login_per_ip_per_minute", timedelta(minutes=1))
