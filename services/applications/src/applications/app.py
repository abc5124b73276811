"""Wires the applications service from its settings (``main.py`` calls it; tests too). Every
port can be replaced here, and only here."""

from __future__ import annotations

from fastapi import FastAPI

from applications.adapters.egrul import LocalEgrul
from applications.adapters.upstream import HttpUpstream
from applications.api import calendar, internal, routes
from applications.handlers import documents, records
from applications.ports import Egrul, Upstream
from applications.scheduler import DeadlineScheduler
from applications.service import Applications
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore
from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.crypto import FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenVerifier


def build(
    settings: ApplicationsSettings,
    *,
    clock: Clock = utc_now,
    upstream: Upstream | None = None,
    egrul: Egrul | None = None,
    verifier: AccessTokenVerifier | None = None,
) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.APPLICATIONS],
        outbox_collections=["applications"],
        clock=clock,
    )
    store = ApplicationStore(runtime, FieldCipher.from_settings(settings))
    if upstream is None:
        http_upstream = HttpUpstream(
            settings.identity_url, settings.documents_url, settings.upstream_timeout_seconds
        )
        runtime.shutdown.append(http_upstream.close)
        upstream = http_upstream
    applications = Applications(
        store,
        settings,
        upstream=upstream,
        egrul=egrul or LocalEgrul(settings.registries_dir),
        clock=clock,
    )
    scheduler = DeadlineScheduler(
        store,
        clock,
        owner=f"applications-{runtime.replica_id}",
        poll_seconds=settings.scheduler_poll_seconds,
        claim_seconds=settings.scheduler_claim_seconds,
        recount_seconds=settings.counters_repair_seconds,
    )
    documents.subscribe(runtime.consumer, applications)
    records.subscribe(runtime.consumer, applications)
    runtime.startup.append(store.ensure_indexes)
    runtime.background.append(scheduler.loop.run)
    app = create_app(
        runtime,
        title="ЭМК — applications",
        description="Applications for a medical book: drafts, submission, review, deadlines.",
        # The calendar's fixed path comes before the router's ``/{application_id}``.
        routers=[
            calendar.router,
            routes.router,
            internal.internal_router(ServiceTokenVerifier.from_settings(settings)),
        ],
    )
    app.state.applications = applications
    app.state.scheduler = scheduler
    app.state.access_verifier = verifier or AccessTokenVerifier.from_settings(settings)
    return app
