"""Builds the records service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from records.app import build
from records.settings import RecordsSettings

app = build(RecordsSettings())
