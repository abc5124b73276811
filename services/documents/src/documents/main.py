"""Builds the documents service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from documents.app import build
from documents.settings import DocumentsSettings

app = build(DocumentsSettings())
