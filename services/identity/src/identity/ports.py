"""What the identity service needs from outside, as protocols; ``adapters/`` implements
them, and tests replace them through ``build(...)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emk_common.events import Envelope
from identity.domain.user import Channel

Purpose = Literal["contact_verification", "login"]


class CodeCourier(Protocol):
    """Turns a one-time code into a ``DeliverOtp`` command for the notifications service.
    The code must leave identity sealed: only the command's envelope is staged in the
    outbox, never the code. ``at``: the command's time, by the service's clock."""

    def command(
        self,
        *,
        subject: str,
        user_id: str,
        channel: Channel,
        destination: str,
        code: str,
        purpose: Purpose,
        expires_at: datetime,
        at: datetime,
    ) -> Envelope: ...


@dataclass(frozen=True)
class PersonCheck:
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str
    passport_series: str
    passport_number: str
    passport_issued_at: date


@dataclass(frozen=True)
class Discrepancy:
    field: str
    code: str
    message: str


class PersonRegistry(Protocol):
    """The state registries that confirm a person's documents (local adapter:
    ``deploy/local/registries``; deployment plugs in the real registry client)."""

    async def check(self, person: PersonCheck) -> list[Discrepancy]: ...


class PasswordHasher(Protocol):
    """Password hashes. An unknown login must cost what a known one costs:
    ``verify_dummy`` does the same work against no account."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def verify_dummy(self, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True)
class PublishedKey:
    """A public key of the token signers, as the JWKS shows it (``x``: base64url)."""

    kid: str
    x: str


class TokenKeys(Protocol):
    """The keys access tokens are signed with: one active, the recent ones published, all
    replicas signing with the same one."""

    async def ensure_active(self) -> None: ...

    async def rotate(self) -> str: ...

    async def key(self, kid: str) -> Ed25519PublicKey | None: ...

    async def published(self) -> list[PublishedKey]: ...

    async def sign(self, claims: dict[str, Any]) -> str: ...
