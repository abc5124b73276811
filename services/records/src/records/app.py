"""Wires the records service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from fastapi import FastAPI

from emk_common import catalog
from emk_common.service import create_app, create_runtime
from records.settings import RecordsSettings


def build(settings: RecordsSettings) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.RECORDS],
        outbox_collections=["books"],
    )
    return create_app(
        runtime,
        title="ЭМК — records",
        description="Medical books: exams, vaccinations, lab results, certification, share codes.",
    )
