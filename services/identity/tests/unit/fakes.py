"""In-memory fakes of the identity service's ports and store (``identity.ports``).

They keep the contracts the use cases rely on — a write conditional on the version read,
a challenge try conditional on the attempts read, a refresh token swapped only while it is
current, a lock after the threshold — and nothing of MongoDB; the store itself is tested
on MongoDB through tests/api.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emk_common.catalog import CATALOG, DeliverOtp
from emk_common.events import Envelope, EventData
from emk_testing import FakeClock
from identity.domain.ghost import Ghost
from identity.domain.logins import LoginKind
from identity.domain.otp import OneTimeCode
from identity.domain.session import Challenge, Session
from identity.domain.user import Channel, Person, User
from identity.ports import Discrepancy, LoginTakenError, PersonCheck, PublishedKey, Purpose
from identity.service import Identity
from identity.settings import IdentitySettings

CODE_KEY = b"k" * 32


def logins(person: Person) -> dict[LoginKind, str]:
    values: dict[LoginKind, str | None] = {
        "phone": person.phone,
        "email": person.email,
        "snils": person.snils,
    }
    return {kind: value for kind, value in values.items() if value}


def decoded(envelopes: list[Envelope]) -> list[EventData]:
    """The payloads of the events staged, in order; the fake courier's commands (which
    carry no sealed box) are left out."""
    return [
        CATALOG[e.type].model_validate(e.data)
        for e in envelopes
        if e.type != DeliverOtp.event_type()
    ]


def commands(envelopes: list[Envelope]) -> list[Envelope]:
    return [e for e in envelopes if e.type == DeliverOtp.event_type()]


@dataclass
class FakeUsers:
    users: dict[str, User] = field(default_factory=dict)
    # Everything staged in the users' outbox, in order.
    outbox: list[Envelope] = field(default_factory=list)
    # A write by someone else between our read and our write: the next apply loses.
    racing: bool = False

    async def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def by_login(self, kind: LoginKind, normalised: str) -> User | None:
        return next(
            (u for u in self.users.values() if logins(u.person).get(kind) == normalised), None
        )

    async def insert(self, user: User, events: list[Envelope]) -> None:
        assert user.id not in self.users
        if await self.owners(user.person):
            raise LoginTakenError(user.id)
        self.users[user.id] = user
        self.outbox.extend(events)

    async def owners(self, person: Person) -> dict[LoginKind, str]:
        found: dict[LoginKind, str] = {}
        for kind, value in logins(person).items():
            for user in self.users.values():
                if logins(user.person).get(kind) == value:
                    found[kind] = user.id
        return found

    async def apply(self, before: User, after: User, events: list[Envelope]) -> bool:
        if self.racing:
            self.racing = False
            current = self.users[before.id]
            self.users[before.id] = replace(current, version=current.version + 1)
        if self.users[before.id].version != before.version:
            return False
        self.users[before.id] = replace(after, version=before.version + 1)
        self.outbox.extend(events)
        return True

    async def count_code_try(self, user: User, channel: Channel, max_attempts: int) -> User | None:
        current = self.users[user.id]
        code = current.contacts[channel].code
        sent = user.contacts[channel].code
        if code is None or sent is None or code.code_hash != sent.code_hash:
            return None
        if code.used or code.attempts >= max_attempts:
            return None
        counted = current.with_contact_code(channel, replace(code, attempts=code.attempts + 1))
        self.users[user.id] = counted  # not versioned: only the code's counter moves
        return counted


@dataclass
class FakeChallenges:
    challenges: dict[str, Challenge] = field(default_factory=dict)
    outbox: list[Envelope] = field(default_factory=list)

    async def get(self, challenge_id: str) -> Challenge | None:
        return self.challenges.get(challenge_id)

    async def insert(self, challenge: Challenge, events: list[Envelope]) -> None:
        self.challenges[challenge.id] = challenge
        self.outbox.extend(events)

    async def count_try(self, challenge: Challenge, max_attempts: int) -> Challenge | None:
        challenge_id = challenge.id
        found = self.challenges.get(challenge_id)
        if found is None or found.done or found.attempts >= max_attempts:
            return None
        code = found.code
        if code is not None:
            code = replace(code, attempts=code.attempts + 1)
        counted = self.challenges[challenge_id] = replace(
            found, attempts=found.attempts + 1, code=code
        )
        return counted

    async def finish(self, challenge_id: str) -> bool:
        found = self.challenges[challenge_id]
        if found.done:
            return False
        self.challenges[challenge_id] = replace(found, done=True)
        return True


@dataclass
class StoredSession:
    session: Session
    current_hash: str
    spent: list[str] = field(default_factory=list)
    revoked_at: datetime | None = None


@dataclass
class FakeSessions:
    clock: FakeClock
    sessions: dict[str, StoredSession] = field(default_factory=dict)
    # Everything staged in the sessions' outbox (SessionRevoked), in order.
    outbox: list[Envelope] = field(default_factory=list)

    async def open(self, session_id: str, user_id: str, token_hash: str, ttl: timedelta) -> Session:
        now = self.clock()
        session = Session(session_id, user_id, now, now + ttl)
        self.sessions[session_id] = StoredSession(session, token_hash)
        return session

    def _live(self, stored: StoredSession) -> bool:
        return stored.revoked_at is None and stored.session.expires_at > self.clock()

    async def rotate(self, token_hash: str, new_hash: str) -> Session | None:
        for stored in self.sessions.values():
            if stored.current_hash == token_hash and self._live(stored):
                stored.spent.append(token_hash)
                stored.current_hash = new_hash
                return stored.session
        return None

    async def spent(self, token_hash: str) -> Session | None:
        for stored in self.sessions.values():
            if token_hash in stored.spent and stored.revoked_at is None:
                return stored.session
        return None

    async def revoke(self, session_id: str, user_id: str, events: list[Envelope]) -> bool:
        stored = self.sessions.get(session_id)
        if stored is None or stored.session.user_id != user_id or stored.revoked_at is not None:
            return False
        stored.revoked_at = self.clock()
        self.outbox.extend(events)
        return True

    async def active(self, user_id: str) -> list[str]:
        return [
            stored.session.id
            for stored in self.sessions.values()
            if stored.session.user_id == user_id and stored.revoked_at is None
        ]

    async def is_active(self, session_id: str) -> bool:
        stored = self.sessions.get(session_id)
        return stored is not None and self._live(stored)


@dataclass
class Guard:
    failures: int
    expires_at: datetime
    locked_until: datetime | None = None


@dataclass
class FakeGuards:
    clock: FakeClock
    guards: dict[str, Guard] = field(default_factory=dict)

    def _get(self, login: str) -> Guard | None:
        key = login.strip().lower()
        guard = self.guards.get(key)
        if guard is not None and guard.expires_at <= self.clock():  # expired, as a TTL index
            del self.guards[key]
            return None
        return guard

    async def locked_for(self, login: str) -> float:
        guard = self._get(login)
        if guard is None or guard.locked_until is None:
            return 0.0
        return max(0.0, (guard.locked_until - self.clock()).total_seconds())

    async def failed(
        self, login: str, *, threshold: int, lock: timedelta, window: timedelta
    ) -> datetime | None:
        now = self.clock()
        guard = self._get(login) or Guard(0, now)
        guard.failures += 1
        guard.expires_at = now + window
        self.guards[login.strip().lower()] = guard
        if guard.failures >= threshold:
            guard.locked_until, guard.failures = now + lock, 0
            guard.expires_at = guard.locked_until + window
            return guard.locked_until
        return None

    async def succeeded(self, login: str) -> None:
        self.guards.pop(login.strip().lower(), None)


@dataclass
class FakeLimits:
    clock: FakeClock
    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)

    async def hit(self, bucket: str, key: str, *, limit: int, window: timedelta) -> float | None:
        seconds = int(window.total_seconds())
        start = int(self.clock().timestamp()) // seconds * seconds
        counter = (bucket, key, start)
        self.counts[counter] = self.counts.get(counter, 0) + 1
        if self.counts[counter] > limit:
            return max(1.0, start + seconds - self.clock().timestamp())
        return None


@dataclass
class FakeGhosts:
    ghosts: dict[str, Ghost] = field(default_factory=dict)
    outbox: list[Envelope] = field(default_factory=list)

    async def insert(self, ghost: Ghost, events: list[Envelope]) -> None:
        self.ghosts[ghost.id] = ghost
        self.outbox.extend(events)

    async def get(self, ghost_id: str) -> Ghost | None:
        return self.ghosts.get(ghost_id)

    async def count_try(
        self, ghost_id: str, channel: Channel, max_attempts: int
    ) -> OneTimeCode | None:
        ghost = self.ghosts.get(ghost_id)
        if ghost is None or ghost.codes[channel].attempts >= max_attempts:
            return None
        code = replace(ghost.codes[channel], attempts=ghost.codes[channel].attempts + 1)
        self.ghosts[ghost_id] = replace(ghost, codes={**ghost.codes, channel: code})
        return code

    async def replace_code(self, ghost_id: str, channel: Channel, code: OneTimeCode) -> None:
        ghost = self.ghosts[ghost_id]
        self.ghosts[ghost_id] = replace(ghost, codes={**ghost.codes, channel: code})


@dataclass
class FakeStore:
    users: FakeUsers
    challenges: FakeChallenges
    sessions: FakeSessions
    guards: FakeGuards
    limits: FakeLimits
    ghosts: FakeGhosts = field(default_factory=FakeGhosts)
    indexed: int = 0

    @classmethod
    def on(cls, clock: FakeClock) -> FakeStore:
        return cls(
            FakeUsers(), FakeChallenges(), FakeSessions(clock), FakeGuards(clock), FakeLimits(clock)
        )

    async def ensure_indexes(self) -> None:
        self.indexed += 1


@dataclass(frozen=True)
class Sent:
    user_id: str
    channel: Channel
    destination: str
    code: str
    purpose: Purpose
    expires_at: datetime


@dataclass
class FakeCourier:
    """Keeps every code it is given; the command it makes carries no code (a real one is
    sealed: see the adapter's tests)."""

    sent: list[Sent] = field(default_factory=list)

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
    ) -> Envelope:
        self.sent.append(Sent(user_id, channel, destination, code, purpose, expires_at))
        return Envelope(
            type=DeliverOtp.event_type(),
            source="identity",
            subject=subject,
            time=at,
            data={"user_id": user_id, "channel": channel, "purpose": purpose},
        )

    def last_code(self, destination: str) -> str:
        return next(s.code for s in reversed(self.sent) if s.destination == destination)


@dataclass
class FakeRegistry:
    discrepancies: list[Discrepancy] = field(default_factory=list)
    checked: list[PersonCheck] = field(default_factory=list)

    async def check(self, person: PersonCheck) -> list[Discrepancy]:
        self.checked.append(person)
        return list(self.discrepancies)


@dataclass
class FakePasswords:
    """``hashed(<scheme>:<password>)``; a hash of another scheme needs re-hashing, as an
    argon2 hash made with other parameters does."""

    scheme: str = "v1"
    verifications: int = 0

    def hash(self, password: str) -> str:
        return f"hashed({self.scheme}:{password})"

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash.endswith(f":{password})")

    def verify_dummy(self, password: str) -> bool:
        self.verifications += 1
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"hashed({self.scheme}:")


@dataclass
class FakeKeys:
    """Tokens are names of the claims they were signed with."""

    signed: dict[str, dict[str, Any]] = field(default_factory=dict)
    active: bool = False

    async def ensure_active(self) -> None:
        self.active = True

    async def rotate(self) -> str:
        return "kid-2"

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        return None

    async def published(self) -> list[PublishedKey]:
        return []

    async def sign(self, claims: dict[str, Any]) -> str:
        token = f"access-{len(self.signed) + 1}"
        self.signed[token] = claims
        return token


@dataclass
class Rig:
    """The service on fakes, and the fakes to look at."""

    identity: Identity
    store: FakeStore
    courier: FakeCourier
    registry: FakeRegistry
    passwords: FakePasswords
    keys: FakeKeys
    clock: FakeClock

    @property
    def events(self) -> list[EventData]:
        """The account events staged so far."""
        return decoded(self.store.users.outbox)


# What the tests rely on, whatever the environment sets (the local stack sets a bootstrap
# admin, for one).
SETTINGS: dict[str, Any] = {
    "otp_ttl_seconds": 300,
    "otp_max_attempts": 5,
    "otp_resend_cooldown_seconds": 60,
    "verify_per_account_per_hour": 30,
    "resend_per_account_per_hour": 10,
    "lockout_threshold": 3,
    "lockout_minutes": 15,
    "lockout_window_minutes": 15,
    "access_token_ttl_seconds": 900,
    "refresh_token_ttl_days": 30,
    "emk_bootstrap_admin_email": "",
    "emk_bootstrap_admin_password": "",
}


def rig(clock: FakeClock, **settings: Any) -> Rig:
    store = FakeStore.on(clock)
    courier, registry = FakeCourier(), FakeRegistry()
    passwords, keys = FakePasswords(), FakeKeys()
    identity = Identity(
        store,
        IdentitySettings(**{**SETTINGS, **settings}),
        courier=courier,
        registry=registry,
        passwords=passwords,
        keys=keys,
        code_key=CODE_KEY,
        clock=clock,
    )
    return Rig(identity, store, courier, registry, passwords, keys, clock)
