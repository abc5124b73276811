"""What the identity service needs from outside, as protocols; ``adapters/`` implements
them, and tests replace them through ``build(...)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emk_common.events import Envelope
from identity.domain.ghost import Ghost
from identity.domain.logins import LoginKind
from identity.domain.otp import OneTimeCode
from identity.domain.session import Challenge, Session
from identity.domain.user import Channel, Person, User

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


# --- the store ------------------------------------------------------------------------
# What the use cases keep, as they see it: ``store/`` on MongoDB implements these
# structurally, the unit tests an in-memory one.


class LoginTakenError(Exception):
    """A new account's phone, e-mail or СНИЛС belongs to another account already."""


class Users(Protocol):
    """Accounts; every change is written with its events, in one write."""

    async def get(self, user_id: str) -> User | None: ...

    async def by_login(self, kind: LoginKind, normalised: str) -> User | None: ...

    async def insert(self, user: User, events: list[Envelope]) -> None:
        """Raises :class:`LoginTakenError` when a login of the account is someone else's."""
        ...

    async def owners(self, person: Person) -> dict[LoginKind, str]:
        """Which of the person's logins other accounts have, and whose (after a
        ``LoginTakenError``)."""
        ...

    async def apply(self, before: User, after: User, events: list[Envelope]) -> bool:
        """Writes the change and its events if the account is still at ``before.version``;
        False when another write came first."""
        ...

    async def count_code_try(self, user: User, channel: Channel, max_attempts: int) -> User | None:
        """Counts one try of the code last sent to ``channel`` atomically (not versioned: only
        that code's counter moves); the account as this try left it, or None when that code
        is gone, used or out of tries."""
        ...


class Challenges(Protocol):
    """Second-factor challenges of logins in progress."""

    async def get(self, challenge_id: str) -> Challenge | None: ...

    async def insert(self, challenge: Challenge, events: list[Envelope]) -> None: ...

    async def count_try(self, challenge: Challenge, max_attempts: int) -> Challenge | None:
        """Counts one try atomically; the challenge with it counted, or None if finished or
        out of tries."""
        ...

    async def finish(self, challenge_id: str) -> bool:
        """Marks it done; False if it was done already."""
        ...


class Sessions(Protocol):
    """Refresh-token families, by the hashes of their tokens."""

    async def open(
        self, session_id: str, user_id: str, token_hash: str, ttl: timedelta
    ) -> Session: ...

    async def rotate(self, token_hash: str, new_hash: str) -> Session | None:
        """Swaps the current token for a new one; None unless ``token_hash`` is the current
        token of a live session."""
        ...

    async def spent(self, token_hash: str) -> Session | None:
        """The live (not revoked) session ``token_hash`` was once the current token of."""
        ...

    async def revoke(self, session_id: str, user_id: str, events: list[Envelope]) -> bool:
        """Ends ``user_id``'s session and stages its events, in one write; False when the
        session is not theirs or has ended already (nothing is staged then)."""
        ...

    async def active(self, user_id: str) -> list[str]:
        """The ids of the account's sessions that have not been revoked."""
        ...

    async def is_active(self, session_id: str) -> bool: ...


class Guards(Protocol):
    """Failed-password counters by login as typed, known or not."""

    async def locked_for(self, login: str) -> float:
        """Seconds the login stays locked (0: it is not)."""
        ...

    async def failed(
        self, login: str, *, threshold: int, lock: timedelta, window: timedelta
    ) -> datetime | None:
        """Counts a failure; the lock's end when this failure locks the login."""
        ...

    async def succeeded(self, login: str) -> None: ...


class Limits(Protocol):
    """Rate limits shared by the replicas (``emk_common.limits.RateLimits``)."""

    async def hit(self, bucket: str, key: str, *, limit: int, window: timedelta) -> float | None:
        """Counts one hit; the seconds to wait when it is over the limit, else None."""
        ...


class Ghosts(Protocol):
    """Registrations answered as made though a login of theirs was taken
    (``identity.domain.ghost``)."""

    async def insert(self, ghost: Ghost, events: list[Envelope]) -> None: ...

    async def get(self, ghost_id: str) -> Ghost | None: ...

    async def count_try(
        self, ghost_id: str, channel: Channel, max_attempts: int
    ) -> OneTimeCode | None:
        """Counts one try atomically; the code as this try left it, or None when the ghost is
        gone or its code out of tries."""
        ...

    async def replace_code(self, ghost_id: str, channel: Channel, code: OneTimeCode) -> None: ...


class Store(Protocol):
    @property
    def users(self) -> Users: ...

    @property
    def challenges(self) -> Challenges: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def guards(self) -> Guards: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def ghosts(self) -> Ghosts: ...

    async def ensure_indexes(self) -> None: ...


class ReasonsUnavailableError(Exception):
    """A service did not give the reasons of its accesses (down, slow, or refusing)."""


class AccessReasonSource(Protocol):
    """The services' internal ``/internal/v1/access-log/reasons``: the free-text reasons of
    their accesses stay with them and are asked for when their owner looks."""

    async def reasons(
        self, service: str, owner_id: str, entry_ids: list[str]
    ) -> dict[str, str | None]:
        """entry id → reason, of ``owner_id``'s entries only; raises
        ``ReasonsUnavailableError``."""
        ...

    async def close(self) -> None: ...
