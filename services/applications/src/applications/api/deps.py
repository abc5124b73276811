"""What the applications routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from applications.service import Applications
from emk_common.auth import Principal, require_roles


async def get_applications(request: Request) -> Applications:
    applications: Applications = request.app.state.applications
    return applications


async def authorization(request: Request) -> str:
    """The caller's own bearer token, to ask identity and documents on their behalf."""
    return request.headers.get("authorization", "")


ApplicationsDep = Annotated[Applications, Depends(get_applications)]
Authorization = Annotated[str, Depends(authorization)]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
Operator = Annotated[Principal, Depends(require_roles("operator"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
