"""Wires the records service from its settings (``main.py`` calls it; tests too). Every port
can be replaced here, and only here."""

from __future__ import annotations

from fastapi import FastAPI

from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenIssuer
from records.adapters.ed25519 import Ed25519Scheme
from records.adapters.organisations import LocalMedicalOrganisations
from records.adapters.peers import ApplicationsEmployments, IdentityPeople
from records.api import extract, fhir, routes, sharing
from records.handlers import applications, identity
from records.ports import Employments, MedicalOrganisations, People, SignatureScheme
from records.scheduler import ValidityScheduler
from records.service import Records
from records.settings import RecordsSettings
from records.store import BookStore


def build(
    settings: RecordsSettings,
    *,
    clock: Clock = utc_now,
    people: People | None = None,
    employments: Employments | None = None,
    organisations: MedicalOrganisations | None = None,
    scheme: SignatureScheme | None = None,
    verifier: AccessTokenVerifier | None = None,
) -> FastAPI:
    runtime = create_runtime(
        settings, produces=[catalog.RECORDS], outbox_collections=["books", "shares"], clock=clock
    )
    store = BookStore(
        runtime, FieldCipher.from_settings(settings), BlindIndex.from_settings(settings)
    )
    runtime.shutdown.append(store.share_checks.drain)  # checks in hand are written
    if people is None or employments is None:
        issuer = ServiceTokenIssuer.from_settings(settings)
        timeout = settings.peer_timeout_seconds
        if people is None:
            identity_peer = IdentityPeople(settings.identity_url, issuer, timeout)
            runtime.shutdown.append(identity_peer.close)
            people = identity_peer
        if employments is None:
            applications_peer = ApplicationsEmployments(settings.applications_url, issuer, timeout)
            runtime.shutdown.append(applications_peer.close)
            employments = applications_peer
    records = Records(
        store,
        settings,
        people=people,
        employments=employments,
        organisations=organisations or LocalMedicalOrganisations(settings.registries_dir),
        scheme=scheme or Ed25519Scheme(),
        clock=clock,
    )
    scheduler = ValidityScheduler(
        store,
        clock,
        owner=f"records-{runtime.replica_id}",
        poll_seconds=settings.scheduler_poll_seconds,
        claim_seconds=settings.scheduler_claim_seconds,
    )
    applications.subscribe(runtime.consumer, records)
    identity.subscribe(runtime.consumer, records)
    runtime.startup.append(store.ensure_indexes)
    runtime.background.append(scheduler.loop.run)
    app = create_app(
        runtime,
        title="ЭМК — records",
        description="The medical book: issued on approval, kept by medical workers, signed.",
        routers=[routes.router, sharing.router, sharing.pages, extract.router, fhir.router],
        secret_paths=sharing.SECRET_PATHS,
    )
    app.state.records = records
    app.state.scheduler = scheduler
    app.state.access_verifier = verifier or AccessTokenVerifier.from_settings(settings)
    return app
