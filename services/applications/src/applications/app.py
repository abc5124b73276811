"""Wires the applications service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from fastapi import FastAPI

from applications.settings import ApplicationsSettings
from emk_common import catalog
from emk_common.service import create_app, create_runtime


def build(settings: ApplicationsSettings) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.APPLICATIONS],
        outbox_collections=["applications"],
    )
    return create_app(
        runtime,
        title="ЭМК — applications",
        description="Applications for a medical book: drafts, submission, review, deadlines.",
    )
