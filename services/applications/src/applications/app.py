"""Wires the applications service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from fastapi import FastAPI

from applications.adapters.egrul import Egrul, LocalEgrul
from applications.adapters.upstream import Upstream
from applications.api import calendar, internal, routes
from applications.deadlines import Deadlines
from applications.handlers import documents, records
from applications.lifecycle import Applications
from applications.settings import ApplicationsSettings
from applications.store import ApplicationStore
from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.crypto import FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenVerifier


def build(
    settings: ApplicationsSettings, *, clock: Clock | None = None, egrul: Egrul | None = None
) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.APPLICATIONS],
        outbox_collections=["applications"],
    )
    clock = clock or utc_now
    store = ApplicationStore(runtime)
    upstream = Upstream(
        settings.identity_url, settings.documents_url, settings.upstream_timeout_seconds
    )
    applications = Applications(
        store,
        settings,
        upstream,
        egrul or LocalEgrul(settings.registries_dir),
        FieldCipher.from_settings(settings),
        clock,
    )
    deadlines = Deadlines(
        store,
        clock,
        owner=f"applications-{runtime.replica_id}",
        poll_seconds=settings.scheduler_poll_seconds,
        claim_seconds=settings.scheduler_claim_seconds,
        recount_seconds=settings.counters_repair_seconds,
    )
    documents.subscribe(runtime.consumer, store)
    records.subscribe(runtime.consumer, applications)
    runtime.startup.append(store.ensure_indexes)
    runtime.background.append(deadlines.loop.run)
    runtime.shutdown.append(upstream.close)
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
    app.state.deadlines = deadlines
    app.state.access_verifier = AccessTokenVerifier.from_settings(settings)
    return app
