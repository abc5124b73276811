"""Settings of the applications service (environment prefix ``APPLICATIONS_``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from emk_common.settings import ServiceSettings


class ApplicationsSettings(ServiceSettings):
    service_name: ClassVar[str] = "applications"
    http_port: int = 8002  # API.md's local port (``APPLICATIONS_HTTP_PORT``)

    # Who may call the internal API (GET /internal/v1/applications/…): records reads an
    # application's employer and position, notifications the comment of a change.
    trusted_callers: list[str] = Field(default_factory=lambda: ["records", "notifications"])

    # Working days (DOMAIN.md): review, review after a clarification, review in a peak
    # period, and the applicant's time to answer a clarification request.
    review_days: int = 5
    clarification_review_days: int = 10
    peak_review_days: int = 15
    answer_days: int = 3
    # The version of the consent text a citizen agrees to; recorded with every consent.
    consent_text_version: str = "2025-09-01"
    # Reference data of the local ЕГРЮЛ adapter.
    registries_dir: Path = Path("deploy/local/registries")
    # The deadline scheduler: how often it looks for due timers, and how long a replica
    # holds an application it is working on before another may take it over.
    scheduler_poll_seconds: float = 5.0
    scheduler_claim_seconds: float = 30.0
    # How often the queue counters are recounted from the collection (a repair, not a source).
    counters_repair_seconds: float = 600.0
    # Calls to identity and documents on the caller's behalf; where documents is
    # (``DOCUMENTS_URL`` works too, as the local stack sets it; identity: ``IDENTITY_URL``).
    documents_url: str = "http://127.0.0.1:8003"
    upstream_timeout_seconds: float = 5.0
