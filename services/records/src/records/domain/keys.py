"""A medical worker's signing key: what verifies the records they sign, for as long as the
records are kept — so a key is never deleted, only superseded by a newer one or revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

KeyState = Literal["live", "superseded", "revoked"]


@dataclass(frozen=True)
class SigningKey:
    id: str  # "k-" and the start of the key's SHA-256: the same key always has the same id
    public_key: str  # base64url, unpadded
    algorithm: str
    worker_id: str
    worker_name: str | None
    organization_id: str  # the ОГРН the worker signed for when they registered it
    organization_name: str | None
    state: KeyState
    registered_at: datetime
    revoked_at: datetime | None = None

    def signs_for(self, worker_id: str, organization_id: str) -> bool:
        """Whether a new record may be signed with it: the worker's own live key, registered
        for the organisation they sign for now."""
        return (
            self.worker_id == worker_id
            and self.state == "live"
            and self.organization_id == organization_id
        )
