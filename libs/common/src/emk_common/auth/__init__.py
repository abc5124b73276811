"""Users' access tokens, verified locally by every service, and who may see a citizen's data.

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

Modules: ``principal`` (who is calling), ``keys`` (identity's public keys), ``tokens`` (a token
→ a principal), ``dependencies`` (what routes depend on), ``policy`` (the one access policy
for personal data).
"""

from emk_common.auth.dependencies import (
    AccessReason,
    CurrentPrincipal,
    access_reason,
    access_verifier,
    current_principal,
    remember_principal,
    require_roles,
)
from emk_common.auth.keys import JwksCache, KeySource, StaticKeys
from emk_common.auth.policy import Access, PersonalData
from emk_common.auth.principal import ROLES, Principal, Role
from emk_common.auth.tokens import AccessTokenVerifier

__all__ = [
    "ROLES",
    "Access",
    "AccessReason",
    "AccessTokenVerifier",
    "CurrentPrincipal",
    "JwksCache",
    "KeySource",
    "PersonalData",
    "Principal",
    "Role",
    "StaticKeys",
    "access_reason",
    "access_verifier",
    "current_principal",
    "remember_principal",
    "require_roles",
]
