"""Settings of the records service (environment prefix ``RECORDS_``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from emk_common.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    service_name: ClassVar[str] = "records"
    http_port: int = 8004  # API.md's local port (``RECORDS_HTTP_PORT``)

    # The issuing point's two digits in a book number RR-NN-NNNNNN-YY.
    issuing_point: str = Field(default="01", pattern=r"^\d{2}$")
    # Reference data of the local registry of medical organisations.
    registries_dir: Path = Path("deploy/local/registries")
    # Internal calls to identity and applications (service tokens); a slower answer is a
    # transient failure, retried with backoff.
    peer_timeout_seconds: float = 5.0
    # Where applications is (``APPLICATIONS_URL`` works too; identity: ``IDENTITY_URL``).
    applications_url: str = "http://127.0.0.1:8002"
    # How long a lookup (СНИЛС + number, or a visit code) opens a book to an organisation.
    grant_days: int = 30
    # A visit code: how long it lives and how many base32 characters it has (≥ 10).
    visit_code_hours: int = 24
    visit_code_length: int = Field(default=10, ge=10, le=32)
    # Failed lookups one medical worker may make per window before being refused (429).
    lookup_failures_per_window: int = 10
    lookup_failure_window_minutes: int = 60
    # Registering a signing key needs a login (second factor) at most this old.
    signing_key_login_max_age_seconds: int = 600
    # Where people reach the public check (the QR of a share code points at
    # ``{public_base_url}/check/{code}``): the API gateway's public address in a cluster.
    public_base_url: str = "http://127.0.0.1:8004"
    # Public checks (JSON and page) one client address may make per minute; the address is
    # read from X-Forwarded-For only when the gateway (``TRUSTED_PROXIES``) wrote it.
    public_checks_per_minute: int = 30
    # The validity scheduler: how often it looks for due books, and how long a replica holds
    # a book it is working on before another may take it over.
    scheduler_poll_seconds: float = 30.0
    scheduler_claim_seconds: float = 30.0
