"""Builds the documents service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from documents.settings import DocumentsSettings
from emk_common import catalog
from emk_common.service import create_app, create_runtime

settings = DocumentsSettings()
runtime = create_runtime(
    settings,
    produces=[catalog.DOCUMENTS],
    outbox_collections=["documents"],
    uses_s3=True,
)
app = create_app(
    runtime,
    title="ЭМК — documents",
    description="Uploaded scans: malware-scanned, encrypted in S3, reviewed by operators.",
)
