"""Builds the applications service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from applications.app import build
from applications.settings import ApplicationsSettings

app = build(ApplicationsSettings())
