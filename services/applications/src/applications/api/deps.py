"""What the applications routes depend on (as in identity's ``api/deps.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from applications.lifecycle import Applications


def get_applications(request: Request) -> Applications:
    applications: Applications = request.app.state.applications
    return applications


def authorization(request: Request) -> str:
    """The caller's own bearer token, to ask identity and documents on their behalf."""
    return request.headers.get("authorization", "")


AppsDep = Annotated[Applications, Depends(get_applications)]
Authorization = Annotated[str, Depends(authorization)]
