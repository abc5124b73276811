"""Wires the documents service from its settings (``main.py`` calls it; tests too). Every
port can be replaced here, and only here."""

from __future__ import annotations

from fastapi import FastAPI

from documents.adapters.s3 import EncryptedS3
from documents.adapters.scanner import Clamd
from documents.api import internal, routes
from documents.domain.inspection import MAX_BYTES
from documents.ports import ObjectStorage, Scanner
from documents.service import Documents
from documents.settings import DocumentsSettings
from documents.store import DocumentStore
from emk_common import catalog
from emk_common.auth import AccessTokenVerifier
from emk_common.clock import Clock, utc_now
from emk_common.crypto import FieldCipher
from emk_common.service import create_app, create_runtime
from emk_common.service_auth import ServiceTokenVerifier
from emk_common.settings import decode_keyring

# The upload (``POST /api/v1/documents``) streams its multipart body itself and refuses it
# past MAX_BYTES of file (its form fields and framing have their own allowance); this limit,
# the same as the gateway's, only backs that up for it instead of the platform's 64 KB.
UPLOAD_BODY_BYTES = MAX_BYTES + 1024 * 1024


def build(
    settings: DocumentsSettings,
    *,
    clock: Clock = utc_now,
    storage: ObjectStorage | None = None,
    scanner: Scanner | None = None,
    verifier: AccessTokenVerifier | None = None,
) -> FastAPI:
    runtime = create_runtime(
        settings,
        produces=[catalog.DOCUMENTS],
        outbox_collections=["documents"],
        uses_s3=storage is None,
        clock=clock,
    )
    if storage is None:
        assert runtime.s3 is not None
        master = FieldCipher(decode_keyring(settings.master_keys), settings.master_kid or None)
        storage = EncryptedS3(runtime.s3, settings.s3_bucket, master)
    store = DocumentStore(runtime, clock)
    documents = Documents(
        store,
        settings,
        storage=storage,
        scanner=scanner
        or Clamd(settings.clamd_host, settings.clamd_port, settings.clamd_timeout_seconds),
        clock=clock,
    )
    runtime.startup.append(store.ensure_indexes)
    app = create_app(
        runtime,
        title="ЭМК — documents",
        description="Uploaded scans: malware-scanned, encrypted in S3, reviewed by operators.",
        routers=[
            routes.router,
            internal.internal_router(ServiceTokenVerifier.from_settings(settings)),
        ],
        body_limits={"/api/v1/documents": UPLOAD_BODY_BYTES},
    )
    app.state.documents = documents
    app.state.access_verifier = verifier or AccessTokenVerifier.from_settings(settings)
    return app
