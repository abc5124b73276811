"""Wires the identity service from its settings (``main.py`` calls it; tests too). Every port
can be replaced here, and only here."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from emk_common import catalog
from emk_common.auth import AccessTokenVerifier, Principal
from emk_common.clock import Clock, utc_now
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenIssuer, ServiceTokenVerifier
from identity.adapters.courier import SealedCodeCourier
from identity.adapters.passwords import Argon2Passwords
from identity.adapters.reasons import HttpAccessReasons
from identity.adapters.registries import LocalPersonRegistry
from identity.adapters.token_keys import SigningKeys
from identity.api import internal, routes
from identity.domain.accesses import STAFF_ROLES
from identity.handlers import accesses, audit
from identity.ports import (
    AccessReasonSource,
    CodeCourier,
    PasswordHasher,
    PersonRegistry,
    TokenKeys,
)
from identity.service import Identity
from identity.service.accesses import WhoSaw
from identity.settings import IdentitySettings
from identity.store import IdentityStore
from identity.store.accesses import COLLECTION as DATA_ACCESSES
from identity.store.accesses import DataAccesses
from identity.store.anchors import COLLECTION as AUDIT_ANCHORS
from identity.store.anchors import AuditAnchors


def build(
    settings: IdentitySettings,
    *,
    clock: Clock = utc_now,
    courier: CodeCourier | None = None,
    registry: PersonRegistry | None = None,
    passwords: PasswordHasher | None = None,
    keys: TokenKeys | None = None,
    service_verifier: ServiceTokenVerifier | None = None,
    reasons: AccessReasonSource | None = None,
) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.IDENTITY, catalog.IDENTITY_SESSIONS, catalog.NOTIFICATION_COMMANDS],
        outbox_collections=["users", "challenges", "ghost_registrations", "sessions"],
        clock=clock,
    )
    cipher = FieldCipher.from_settings(settings)
    blind_index = BlindIndex.from_settings(settings)
    keys = keys or SigningKeys(
        runtime.collection("signing_keys"),
        cipher,
        clock=clock,
        token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
    identity = Identity(
        IdentityStore(
            runtime,
            cipher,
            blind_index,
            clock,
            unconfirmed_for=timedelta(days=settings.unconfirmed_account_days),
        ),
        settings,
        courier=courier
        or SealedCodeCourier.from_keyring(
            settings.notifications_otp_public_keys, settings.notifications_otp_kid
        ),
        registry=registry or LocalPersonRegistry(settings.registries_dir),
        passwords=passwords or Argon2Passwords.from_settings(settings),
        keys=keys,
        # One-time codes are hashed with a key of their own, derived from the blind-index key.
        code_key=bytes.fromhex(blind_index.index("one-time codes", purpose="keys")),
        clock=clock,
    )

    async def _session_revoked(principal: Principal) -> bool:
        return not await identity.session_active(principal.session_id)

    runtime.startup.append(identity.prepare)
    # Every service's audit journal anchors, kept forever (emk_common.journal).
    anchors = AuditAnchors(runtime.collection(AUDIT_ANCHORS))
    runtime.startup.append(anchors.ensure_indexes)
    audit.subscribe(runtime.consumer, anchors)
    # Every service's accesses to a person's data, for "who saw my data" (emk_common.access_feed).
    data_accesses = DataAccesses(runtime.collection(DATA_ACCESSES))
    runtime.startup.append(data_accesses.ensure_indexes)
    accesses.subscribe(runtime.consumer, data_accesses)
    if reasons is None:
        reasons = HttpAccessReasons.of(
            settings.peer_urls(),
            ServiceTokenIssuer.from_settings(settings),
            settings.access_reasons_timeout_seconds,
        )
    runtime.shutdown.append(reasons.close)
    who_saw = WhoSaw(data_accesses, reasons, identity.users.get, STAFF_ROLES)
    app = create_app(
        runtime,
        title="ЭМК — identity",
        description="Registration, two-factor login, tokens, personal data and staff accounts.",
        routers=[
            routes.router,
            internal.public,
            internal.internal_router(
                service_verifier or ServiceTokenVerifier.from_settings(settings)
            ),
        ],
    )
    app.state.identity = identity
    app.state.who_saw = who_saw
    # Identity checks its own tokens against its keys directly (no JWKS over HTTP), and
    # refuses the tokens of a session that has ended.
    app.state.access_verifier = AccessTokenVerifier(
        keys,
        issuer=settings.access_token_issuer,
        audience=settings.access_token_audience,
        is_revoked=_session_revoked,
    )
    return app
