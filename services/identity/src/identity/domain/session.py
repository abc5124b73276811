"""Sign-in: the second-factor challenge of a login in progress, and the session its tokens
belong to.

A refresh token is opaque and stored only as its SHA-256; a session (a refresh-token
family) keeps the current one and the spent ones, so a spent token that comes back — a
copy someone kept — ends the whole family.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from identity.domain.otp import OneTimeCode, Verdict
from identity.domain.user import SecondFactor


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_context(challenge_id: str) -> str:
    """What a login code's hash is bound to: this challenge."""
    return f"login:{challenge_id}"


@dataclass(frozen=True)
class Challenge:
    """The second step of a login: a code sent by SMS or e-mail, or the TOTP app's."""

    id: str
    user_id: str
    channel: SecondFactor
    expires_at: datetime
    code: OneTimeCode | None = None  # None for the TOTP app: nothing was sent
    attempts: int = 0
    done: bool = False

    def check_code(
        self, code: str, *, key: bytes, now: datetime, max_attempts: int
    ) -> tuple[Verdict, Challenge]:
        """A sent code: the verdict and the challenge after it (a wrong try is counted)."""
        if self.code is None:
            raise ValueError("a TOTP challenge has no sent code")
        verdict, after = self.code.check(
            code, key=key, context=login_context(self.id), now=now, max_attempts=max_attempts
        )
        if verdict is Verdict.ACCEPTED:
            return verdict, self
        return verdict, replace(self, code=after, attempts=after.attempts)

    def check_counted_code(
        self, code: str, *, key: bytes, now: datetime, max_attempts: int
    ) -> Verdict:
        """A sent code whose try is already counted in this challenge (``attempts`` includes
        it): accepted, expired, wrong, or wrong and the last try (exhausted)."""
        if self.code is None:
            raise ValueError("a TOTP challenge has no sent code")
        before = replace(self.code, attempts=self.code.attempts - 1)
        verdict, _ = before.check(
            code, key=key, context=login_context(self.id), now=now, max_attempts=max_attempts
        )
        return verdict

    def wrong_app_code(self, max_attempts: int) -> tuple[Verdict, Challenge]:
        """A TOTP code that matched no step: counted like a wrong sent code."""
        after = replace(self, attempts=self.attempts + 1)
        return (Verdict.EXHAUSTED if after.attempts >= max_attempts else Verdict.WRONG), after


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
