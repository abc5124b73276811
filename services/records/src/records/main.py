"""Builds the records service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from emk_common import catalog
from emk_common.service import create_app, create_runtime
from records.settings import RecordsSettings

settings = RecordsSettings()
runtime = create_runtime(
    settings,
    produces=[catalog.RECORDS],
    outbox_collections=["books"],
)
app = create_app(
    runtime,
    title="ЭМК — records",
    description="Medical books: exams, vaccinations, lab results, certification, share codes.",
)
