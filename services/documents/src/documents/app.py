"""Wires the documents service from its settings (``main.py`` calls it; tests too)."""

from __future__ import annotations

from fastapi import FastAPI

from documents.adapters.scanner import Clamd
from documents.adapters.storage import EncryptedStore
from documents.api import routes
from documents.files import Documents
from documents.settings import DocumentsSettings
from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.crypto import FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.settings import decode_keyring


def build(settings: DocumentsSettings) -> FastAPI:
    runtime = create_runtime(
        settings, produces=[catalog.DOCUMENTS], outbox_collections=["documents"], uses_s3=True
    )
    assert runtime.s3 is not None
    master = FieldCipher(decode_keyring(settings.master_keys), settings.master_kid or None)
    documents = Documents(
        runtime,
        settings,
        EncryptedStore(runtime.s3, settings.s3_bucket, master),
        Clamd(settings.clamd_host, settings.clamd_port, settings.clamd_timeout_seconds),
    )
    runtime.startup.append(documents.ensure_indexes)
    app = create_app(
        runtime,
        title="ЭМК — documents",
        description="Uploaded scans: malware-scanned, encrypted in S3, reviewed by operators.",
        routers=[routes.router],
    )
    app.state.documents = documents
    app.state.access_verifier = AccessTokenVerifier.from_settings(settings)
    return app
