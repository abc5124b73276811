"""The identity service's MongoDB: accounts with their pending events (``users.py``); login
challenges, sessions and login guards (``sign_in.py``); registrations answered as made though
their login was taken (``ghosts.py``); rate limits. Only this package knows
the documents' shape."""

from __future__ import annotations

from datetime import timedelta

from emk_common.clock import Clock
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.limits import RateLimits
from emk_common.service import Runtime
from identity.store.ghosts import GhostStore
from identity.store.sign_in import ChallengeStore, LoginGuards, SessionStore
from identity.store.users import UserStore

__all__ = ["IdentityStore"]


class IdentityStore:
    """Every collection of the service, made once (``identity.ports.Store``)."""

    def __init__(
        self,
        runtime: Runtime,
        cipher: FieldCipher,
        index: BlindIndex,
        clock: Clock,
        *,
        unconfirmed_for: timedelta = timedelta(days=7),
    ) -> None:
        self.users = UserStore(runtime, cipher, index, clock, unconfirmed_for=unconfirmed_for)
        self.challenges = ChallengeStore(runtime)
        self.sessions = SessionStore(runtime, clock)
        self.guards = LoginGuards(runtime, index, clock)
        self.limits = RateLimits(runtime.collection("rate_limits"), clock)
        self.ghosts = GhostStore(runtime)

    async def ensure_indexes(self) -> None:
        for part in (
            self.users,
            self.challenges,
            self.sessions,
            self.limits,
            self.guards,
            self.ghosts,
        ):
            await part.ensure_indexes()
