"""Settings of the documents service (environment prefix ``DOCUMENTS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from emk_common.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    service_name: ClassVar[str] = "documents"
    http_port: int = 8003  # API.md's local port (``DOCUMENTS_HTTP_PORT``)

    # Who may call the internal API: notifications reads why a document was rejected
    # (GET /internal/v1/documents/{id}/rejection).
    trusted_callers: list[str] = Field(default_factory=lambda: ["notifications"])

    # Where clamd listens (INSTREAM over TCP), and how long a scan may take before the
    # upload is refused with a 503 (never stored unscanned).
    clamd_host: str = "127.0.0.1"
    clamd_port: int = 3310
    clamd_timeout_seconds: float = 30.0
    # The master keyring {kid: base64 32 bytes} that wraps each object's data key.
    master_keys: str = ""
    # The key of the ring that wraps new data keys (may be empty when the ring has one key).
    master_kid: str = ""
    # Documents waiting longer than this are overdue for operators (DOMAIN.md: 24 hours).
    review_hours: int = 24
    # Images decoded at once: a decode may take ~100 MB; the rest wait their turn.
    concurrent_inspections: int = 2
