"""Login with two factors, and the tokens that follow.

1. ``login``: the password. Unknown logins and wrong passwords get the same answer after the
   same work (one password verification each), and both count toward the login's lock — so
   neither the answer, the time nor the lock tells whether an account exists.
2. ``verify_login``: the second factor — a code by SMS (citizens) or e-mail (staff), or the
   TOTP app.
3. Tokens: a short-lived Ed25519 access JWT and an opaque refresh token (stored hashed),
   rotated on every use; a spent refresh token coming back revokes its whole family.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from emk_common.problems import Problem
from identity.domain import totp
from identity.domain.logins import login_candidates
from identity.domain.otp import Verdict
from identity.domain.session import Challenge, login_context, token_hash
from identity.domain.user import User
from identity.service import problems
from identity.service.core import Core, new_id


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


class SignIn(Core):
    async def login(self, login: str, password: str) -> Challenge:
        settings = self.settings
        guards = self.store.guards
        user = await self._find(login)
        # The lock is the account's, however its login was spelled (an e-mail, the phone as
        # «+7 908 …» or «8 (908) …», the СНИЛС); an unknown login's is its normalised form's.
        guarded = _guard_key(login, user)
        locked = await guards.locked_for(guarded)
        if user is not None:  # wrong codes across its logins lock the account too
            locked = max(locked, await guards.locked_for(_codes_key(user.id)))
        if locked > 0:
            raise problems.login_locked(locked)
        if user is None:
            ok = self.passwords.verify_dummy(password)
        else:
            ok = self.passwords.verify(user.password_hash, password)
        if not ok:
            until = await guards.failed(
                guarded,
                threshold=settings.lockout_threshold,
                lock=timedelta(minutes=settings.lockout_minutes),
                window=timedelta(minutes=settings.lockout_window_minutes),
            )
            if until is not None and user is not None:
                after, events = user.locked(until)
                await self.users.apply(user, after, self.events(user.id, events))
            raise Problem.not_authenticated(problems.WRONG_CREDENTIALS)
        await guards.succeeded(guarded)
        assert user is not None  # a password matched, so there is an account
        if user.deactivated_at is not None:
            raise Problem.forbidden("Учётная запись отключена администратором.")
        if self.passwords.needs_rehash(user.password_hash):
            rehashed = replace(user, password_hash=self.passwords.hash(password))
            await self.users.apply(user, rehashed, [])
        return await self._challenge(user)

    async def _find(self, login: str) -> User | None:
        for kind, value in login_candidates(login):
            user = await self.users.by_login(kind, value)
            if user is not None:
                return user
        return None

    async def _challenge(self, user: User) -> Challenge:
        challenge_id = new_id()
        ttl = timedelta(seconds=self.settings.otp_ttl_seconds)
        channel = user.second_factor
        challenge = Challenge(challenge_id, user.id, channel, self.clock() + ttl)
        if channel == "totp":
            await self.store.challenges.insert(challenge, [])
            return challenge
        code, command = self.send_code(
            subject=challenge_id,
            user_id=user.id,
            context=login_context(challenge_id),
            channel=channel,
            destination=user.destination(channel),
            purpose="login",
        )
        challenge = replace(challenge, code=code)
        await self.store.challenges.insert(challenge, [command])
        return challenge

    async def verify_login(self, challenge_id: str, code: str) -> Tokens:
        """The second step. Each try is counted before the code is compared, atomically, so a
        challenge is dead after ``otp_max_attempts`` tries however many arrive at once."""
        max_attempts = self.settings.otp_max_attempts
        challenges = self.store.challenges
        challenge = await challenges.get(challenge_id)
        if challenge is None or challenge.done:
            raise Problem.not_authenticated(problems.LOGIN_OVER)
        user = await self.require(challenge.user_id)
        locked = await self.store.guards.locked_for(_codes_key(user.id))
        if locked > 0:
            raise problems.login_locked(locked)
        counted = await challenges.count_try(challenge, max_attempts)
        if counted is None:
            raise problems.login_code_refused(Verdict.EXHAUSTED)
        if counted.channel == "totp":
            await self._verify_app_code(counted, user, code)
        else:
            verdict = counted.check_counted_code(
                code, key=self.code_key, now=self.clock(), max_attempts=max_attempts
            )
            if verdict is not Verdict.ACCEPTED:
                await self._wrong_code(user, verdict)
                raise problems.login_code_refused(verdict, max_attempts - counted.attempts)
        if not await challenges.finish(challenge.id):
            raise Problem.not_authenticated(problems.LOGIN_OVER)
        return await self._issue(user)

    async def _verify_app_code(self, counted: Challenge, user: User, code: str) -> None:
        """A TOTP code, its try already counted (``counted``)."""
        assert user.totp is not None  # the challenge was made for the app
        max_attempts = self.settings.otp_max_attempts
        step = totp.matching_step(
            user.totp.secret,
            code,
            unix_time=self.clock().timestamp(),
            last_used_step=user.totp.last_step,
        )
        if step is None:
            verdict = Verdict.EXHAUSTED if counted.attempts >= max_attempts else Verdict.WRONG
            await self._wrong_code(user, verdict)
            raise problems.login_code_refused(verdict, max_attempts - counted.attempts)
        await self.users.apply(user, user.with_totp_step(step), [])

    async def _wrong_code(self, user: User, verdict: Verdict) -> None:
        """A wrong code counts against the account across all its logins: past the threshold
        the account is locked, as failed passwords lock it (and ``AccountLocked`` tells)."""
        if verdict is Verdict.EXPIRED:
            return  # not a guess
        settings = self.settings
        until = await self.store.guards.failed(
            _codes_key(user.id),
            threshold=settings.code_failures_threshold,
            lock=timedelta(minutes=settings.lockout_minutes),
            window=timedelta(minutes=settings.code_failures_window_minutes),
        )
        if until is not None:
            after, events = user.locked(until)
            await self.users.apply(user, after, self.events(user.id, events))
            raise problems.login_locked((until - self.clock()).total_seconds())

    async def _issue(
        self, user: User, session_id: str | None = None, auth_time: int | None = None
    ) -> Tokens:
        settings = self.settings
        refresh = secrets.token_urlsafe(32)
        now = int(self.clock().timestamp())
        if session_id is None:
            ttl = timedelta(days=settings.refresh_token_ttl_days)
            session = await self.store.sessions.open(new_id(), user.id, token_hash(refresh), ttl)
            session_id = session.id
            auth_time = now
        claims: dict[str, Any] = {
            "iss": settings.access_token_issuer,
            "aud": settings.access_token_audience,
            "sub": user.id,
            "role": user.role,
            "iat": now,
            "exp": now + settings.access_token_ttl_seconds,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
            # When the second factor was passed: a refresh keeps the login's time.
            "auth_time": auth_time if auth_time is not None else now,
        }
        if user.organization_id:
            claims["org"] = user.organization_id
        return Tokens(await self.keys.sign(claims), refresh, settings.access_token_ttl_seconds)

    async def refresh(self, token: str) -> Tokens:
        sessions = self.store.sessions
        presented = token_hash(token)
        refresh = secrets.token_urlsafe(32)
        session = await sessions.rotate(presented, token_hash(refresh))
        if session is None:
            # A spent token came back: someone kept a copy. The whole family ends.
            family = await sessions.spent(presented)
            if family is not None:
                await self.end_session(family.id, family.user_id)
            raise Problem.not_authenticated("Сеанс завершён. Войдите снова.")
        user = await self.require(session.user_id)
        auth_time = int(session.created_at.timestamp())
        tokens = await self._issue(user, session_id=session.id, auth_time=auth_time)
        return replace(tokens, refresh_token=refresh)

    async def logout(self, session_id: str | None, user_id: str) -> None:
        if session_id:
            await self.end_session(session_id, user_id)

    async def session_active(self, session_id: str | None) -> bool:
        return session_id is not None and await self.store.sessions.is_active(session_id)


def _guard_key(login: str, user: User | None) -> str:
    """What failed passwords are counted against: the account, once a login finds one; else
    the login as normalised (so an unknown one locks the same way, whatever its spelling)."""
    if user is not None:
        return f"user:{user.id}"
    candidates = login_candidates(login)
    if candidates:
        kind, value = candidates[0]
        return f"{kind}:{value}"
    return f"raw:{login.strip().casefold()}"


def _codes_key(user_id: str) -> str:
    """The counter of an account's wrong second-factor codes, across its logins."""
    return f"codes:user:{user_id}"
