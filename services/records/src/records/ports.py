"""What the records service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from records.domain.book import Holder


class PeerUnavailableError(Exception):
    """A peer service did not answer in time, or answered 5xx: try again later."""


class PeerRefusedError(Exception):
    """A peer answered that the thing asked for is not there (deterministic)."""


@dataclass(frozen=True)
class HolderData:
    holder: Holder
    region_code: str


@dataclass(frozen=True)
class StaffMember:
    user_id: str
    role: str
    organization_id: str | None
    name: str


@dataclass(frozen=True)
class Employment:
    application_id: str
    applicant_id: str
    employer_name: str | None
    employer_inn: str | None
    position: str | None
    department: str | None


class People(Protocol):
    """Identity's internal API, asked with this service's token."""

    async def holder(self, user_id: str) -> HolderData: ...

    async def staff(self, user_id: str) -> StaffMember: ...


class Employments(Protocol):
    """Applications' internal API: the employer and position of an approved application."""

    async def employment(self, application_id: str) -> Employment: ...


@dataclass(frozen=True)
class MedicalOrganisation:
    ogrn: str
    name: str
    region_code: str
    # The exam types its licence covers (``preliminary``, ``periodic``).
    licensed_exams: frozenset[str]


class MedicalOrganisations(Protocol):
    """The registry of medical organisations (local adapter: ``deploy/local/registries``)."""

    def get(self, ogrn: str) -> MedicalOrganisation | None: ...


class SignatureScheme(Protocol):
    """How a record's signature is checked: Ed25519 here; a ГОСТ Р 34.10-2012 qualified
    signature can take its place in production."""

    name: str

    def public_key_ok(self, public_key: bytes) -> bool: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...
