"""One-time codes: 6 digits, stored only as a keyed hash, valid 5 minutes, 5 tries.

The hash is an HMAC with a server key, not a bare hash: a stolen database must not let
anyone enumerate the million possible codes offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"  # too many wrong tries: the code is burned


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_code(code: str, *, key: bytes, context: str) -> str:
    """``context`` (challenge id, channel) binds the hash to one challenge."""
    return hmac.new(key, f"{context}\x00{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class OneTimeCode:
    code_hash: str
    expires_at: datetime
    sent_at: datetime
    attempts: int = 0
    used: bool = False

    @classmethod
    def issue(
        cls, code: str, *, key: bytes, context: str, now: datetime, ttl: timedelta
    ) -> OneTimeCode:
        return cls(hash_code(code, key=key, context=context), now + ttl, now)

    def check(
        self, code: str, *, key: bytes, context: str, now: datetime, max_attempts: int
    ) -> tuple[Verdict, OneTimeCode]:
        """The verdict and the code's next state (a wrong try is counted)."""
        if self.used or self.attempts >= max_attempts:
            return Verdict.EXHAUSTED, self
        if now >= self.expires_at:
            return Verdict.EXPIRED, self
        if hmac.compare_digest(self.code_hash, hash_code(code, key=key, context=context)):
            return Verdict.ACCEPTED, replace(self, used=True)
        after = replace(self, attempts=self.attempts + 1)
        if after.attempts >= max_attempts:
            return Verdict.EXHAUSTED, after
        return Verdict.WRONG, after

    def check_counted(
        self, code: str, *, key: bytes, context: str, now: datetime, max_attempts: int
    ) -> tuple[Verdict, int]:
        """``check`` for a try already counted in ``attempts`` (tries are counted atomically
        before any code is compared): the verdict and the tries left after it."""
        before = replace(self, attempts=self.attempts - 1)
        verdict, after = before.check(
            code, key=key, context=context, now=now, max_attempts=max_attempts
        )
        return verdict, max_attempts - after.attempts

    def resend_wait(self, *, now: datetime, cooldown: timedelta) -> float:
        """Seconds until a new code may be sent (0: now)."""
        return max(0.0, (self.sent_at + cooldown - now).total_seconds())
