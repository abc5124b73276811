"""Who is calling, as every service sees it: the verified claims of a user's access token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["citizen", "medical_worker", "operator", "employer", "admin"]
ROLES: frozenset[str] = frozenset(get_args(Role))


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
