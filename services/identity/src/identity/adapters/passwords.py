"""Password hashing with argon2id (``identity.ports.PasswordHasher``).

Parameters (RFC 9106's second recommended option scaled to a 2-core service: memory
19 MiB, 2 passes, 1 lane — OWASP's minimum for argon2id) are settings; a hash made with
other parameters is re-hashed at the next successful login (:meth:`needs_rehash`).

An unknown login must cost the same as a known one: :meth:`verify_dummy` runs one real
verification against a hash of a random password, and :attr:`verifications` counts every
verification so tests can prove it without timing anything.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity.settings import IdentitySettings


class Argon2Passwords:
    def __init__(self, *, time_cost: int = 2, memory_cost_kib: int = 19_456, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))
        self.verifications = 0

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> Argon2Passwords:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """The same work as :meth:`verify`, for a login that matches no account."""
        self.verify(self._dummy, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
