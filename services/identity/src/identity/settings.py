"""Settings of the identity service (environment prefix ``IDENTITY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from emk_common.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: ClassVar[str] = "identity"
    http_port: int = 8001  # API.md's local port (``IDENTITY_HTTP_PORT``)

    # Who may read a user's readiness and contacts (GET /internal/v1/users/{id}).
    trusted_callers: list[str] = Field(
        default_factory=lambda: ["applications", "documents", "records", "notifications"]
    )

    # The services whose accesses to a person's data identity shows (``/me/access-log``), and
    # where their reasons are asked for (the unprefixed ``<SERVICE>_URL`` of the local stack).
    applications_url: str = "http://127.0.0.1:8002"
    documents_url: str = "http://127.0.0.1:8003"
    records_url: str = "http://127.0.0.1:8004"
    notifications_url: str = "http://127.0.0.1:8005"
    # How long a service may take to give the reasons of a page (the page waits for it).
    access_reasons_timeout_seconds: float = Field(default=0.75, gt=0)

    def peer_urls(self) -> dict[str, str]:
        return {
            "identity": self.identity_url,  # its own journal's reasons, asked the same way
            "applications": self.applications_url,
            "documents": self.documents_url,
            "records": self.records_url,
            "notifications": self.notifications_url,
        }

    # One-time codes (contacts and login).
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_cooldown_seconds: int = 60
    # An account whose contacts are not both confirmed this long after registration is
    # deleted, its phone, e-mail and СНИЛС free again (a typo or a squatter holds them no
    # longer). A registration answered as made though its logins were taken
    # (``identity.domain.ghost``) is forgotten after the same time.
    unconfirmed_account_days: int = 7
    # Rate limits: hits per window, per client IP and per account.
    register_per_ip_per_hour: int = 20
    login_per_ip_per_minute: int = 30
    verify_per_ip_per_minute: int = 60
    verify_per_account_per_hour: int = 30
    resend_per_account_per_hour: int = 10
    # Password failures before a login is locked, and for how long.
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    lockout_window_minutes: int = 15
    # Wrong second-factor codes across all of an account's logins: this many within the
    # window lock the account like failed passwords do (each login gives only 5 tries, but
    # logins can be started again and again).
    code_failures_threshold: int = 10
    code_failures_window_minutes: int = 60
    # Tokens.
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    # argon2id (see identity.domain.passwords).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456
    argon2_parallelism: int = 1
    # Sealing one-time codes for the notifications service.
    notifications_otp_public_keys: str = ""
    notifications_otp_kid: str = ""
    # The first admin.
    emk_bootstrap_admin_email: str = ""
    emk_bootstrap_admin_password: str = ""
    # Reference data of the local registry adapter.
    registries_dir: Path = Path("deploy/local/registries")
