"""What every use case of the identity service shares: the store, the ports, the clock."""

from __future__ import annotations

import uuid
from datetime import timedelta

from emk_common.catalog import SessionRevoked
from emk_common.clock import Clock
from emk_common.events import Envelope, EventData
from emk_common.problems import Problem
from identity.domain.otp import OneTimeCode, new_code
from identity.domain.user import Channel, User
from identity.ports import (
    CodeCourier,
    PasswordHasher,
    PersonRegistry,
    Purpose,
    Store,
    TokenKeys,
)
from identity.service import problems
from identity.settings import IdentitySettings

# Past its ``exp`` a token is still accepted for the verifiers' clock leeway (10 s at most).
_TOKEN_LEEWAY = timedelta(seconds=10)


def new_id() -> str:
    return uuid.uuid4().hex


class Core:
    def __init__(
        self,
        store: Store,
        settings: IdentitySettings,
        *,
        courier: CodeCourier,
        registry: PersonRegistry,
        passwords: PasswordHasher,
        keys: TokenKeys,
        code_key: bytes,
        clock: Clock,
    ) -> None:
        self.store = store
        self.users = store.users
        self.settings = settings
        self.courier = courier
        self.registry = registry
        self.passwords = passwords
        self.keys = keys
        # One-time codes are hashed with a key of their own (an HMAC, not a bare hash).
        self.code_key = code_key
        self.clock = clock

    def events(self, user_id: str, data: list[EventData]) -> list[Envelope]:
        now = self.clock()
        return [Envelope.wrap(d, source="identity", subject=user_id, at=now) for d in data]

    async def end_session(self, session_id: str, user_id: str) -> bool:
        """Ends ``user_id``'s session, and tells every service to refuse its access tokens
        (``SessionRevoked``, staged in the same write); False if it had ended already."""
        now = self.clock()
        lifetime = timedelta(seconds=self.settings.access_token_ttl_seconds) + _TOKEN_LEEWAY
        ended = SessionRevoked(session_id=session_id, revoked_at=now, refuse_until=now + lifetime)
        event = Envelope.wrap(ended, source="identity", subject=session_id, at=now)
        return await self.store.sessions.revoke(session_id, user_id, [event])

    async def limit(self, bucket: str, key: str, limit: int, window: timedelta) -> None:
        wait = await self.store.limits.hit(bucket, key, limit=limit, window=window)
        if wait is not None:
            raise Problem.rate_limited(wait)

    async def require(self, user_id: str) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise problems.no_account()
        return user

    async def write(self, before: User, after: User, events: list[Envelope]) -> None:
        """The change and its events, or a 409 when the account changed meanwhile."""
        if not await self.users.apply(before, after, events):
            raise problems.account_changed()

    def send_code(
        self,
        *,
        subject: str,
        user_id: str,
        context: str,
        channel: Channel,
        destination: str,
        purpose: Purpose,
    ) -> tuple[OneTimeCode, Envelope]:
        """A new code for ``destination``: what is kept of it (a keyed hash) and the
        sealed command that delivers it."""
        code = new_code()
        ttl = timedelta(seconds=self.settings.otp_ttl_seconds)
        now = self.clock()
        stored = OneTimeCode.issue(code, key=self.code_key, context=context, now=now, ttl=ttl)
        command = self.courier.command(
            subject=subject,
            user_id=user_id,
            channel=channel,
            destination=destination,
            code=code,
            purpose=purpose,
            expires_at=stored.expires_at,
            at=now,
        )
        return stored, command
