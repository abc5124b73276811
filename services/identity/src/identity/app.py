"""Wires the identity service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from emk_common import catalog
from emk_common.auth import AccessTokenVerifier, Principal
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenVerifier
from identity.accounts import Accounts
from identity.adapters.registries import LocalPersonRegistry
from identity.api import internal, routes
from identity.api.deps import IdentityApp
from identity.delivery import CodeCourier
from identity.domain.passwords import Passwords
from identity.login import Login
from identity.settings import IdentitySettings
from identity.signing import SigningKeys
from identity.store import PersonalVault, ensure_all


def build(settings: IdentitySettings) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.IDENTITY, catalog.NOTIFICATION_COMMANDS],
        outbox_collections=["users", "challenges"],
    )
    blind_index = BlindIndex.from_settings(settings)
    vault = PersonalVault(FieldCipher.from_settings(settings), blind_index)
    keys = SigningKeys(
        runtime.collection("signing_keys"),
        vault,
        token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
    accounts = Accounts(
        runtime,
        settings,
        vault,
        Passwords(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        CodeCourier.from_keyring(
            settings.notifications_otp_public_keys, settings.notifications_otp_kid
        ),
        LocalPersonRegistry(settings.registries_dir),
        # One-time codes are hashed with a key of their own, derived from the blind-index key.
        code_key=bytes.fromhex(blind_index.index("one-time codes", purpose="keys")),
    )
    login = Login(accounts, keys)

    async def _session_revoked(principal: Principal) -> bool:
        session_id = principal.session_id
        return session_id is None or not await login.sessions.is_active(session_id)

    async def _prepare() -> None:
        for repository in ensure_all(runtime.db):
            await repository.ensure_indexes()
        await keys.ensure_active()
        await accounts.bootstrap_admin()

    runtime.startup.append(_prepare)
    app = create_app(
        runtime,
        title="ЭМК — identity",
        description="Registration, two-factor login, tokens, personal data and staff accounts.",
        routers=[
            routes.router,
            internal.public,
            internal.internal_router(ServiceTokenVerifier.from_settings(settings)),
        ],
    )
    app.state.identity = IdentityApp(accounts, login, keys)
    app.state.access_verifier = AccessTokenVerifier(
        keys,
        issuer=settings.access_token_issuer,
        audience=settings.access_token_audience,
        is_revoked=_session_revoked,
    )
    return app
