"""Builds the applications service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from applications.settings import ApplicationsSettings
from emk_common import catalog
from emk_common.service import create_app, create_runtime

settings = ApplicationsSettings()
runtime = create_runtime(
    settings,
    produces=[catalog.APPLICATIONS],
    outbox_collections=["applications"],
)
app = create_app(
    runtime,
    title="ЭМК — applications",
    description="Applications for a medical book: drafts, submission, review, deadlines.",
)
