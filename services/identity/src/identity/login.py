"""Login with two factors, and the tokens that follow.

1. ``login``: the password. Unknown logins and wrong passwords get the same answer after the
   same work (one argon2 verification each), and both count toward the login's lock — so
   neither the answer, the time nor the lock tells whether an account exists.
2. ``verify``: the second factor — a code by SMS (citizens) or e-mail (staff), or the TOTP app.
3. Tokens: a short-lived Ed25519 access JWT and an opaque refresh token (stored hashed),
   rotated on every use; a spent refresh token coming back revokes its whole family.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.problems import FieldError, Problem
from identity.accounts import Accounts
from identity.domain import totp
from identity.domain.otp import OneTimeCode, Verdict, new_code
from identity.domain.users import login_candidates
from identity.signing import SigningKeys
from identity.store import Challenges, LoginGuards, Sessions, new_id, now_utc

WRONG_CREDENTIALS = "Неверный логин или пароль."


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Login:
    def __init__(self, accounts: Accounts, keys: SigningKeys) -> None:
        self.accounts = accounts
        self.settings = accounts.settings
        self.keys = keys
        runtime = accounts.runtime
        self.challenges = Challenges(runtime.collection("challenges"))
        self.sessions = Sessions(runtime.collection("sessions"))
        self.guards = LoginGuards(runtime.collection("login_guards"))

    async def start(self, login: str, password: str) -> dict[str, Any]:
        settings = self.settings
        guard = self.accounts.vault.index("login", login.strip().lower())
        locked = await self.guards.locked_for(guard)
        if locked > 0:
            raise _locked(locked)
        user = await self._find(login)
        if user is None:
            ok = self.accounts.passwords.verify_dummy(password)
        else:
            ok = self.accounts.passwords.verify(user["password_hash"], password)
        if not ok:
            until = await self.guards.failed(
                guard,
                threshold=settings.lockout_threshold,
                lock=timedelta(minutes=settings.lockout_minutes),
                window=timedelta(minutes=settings.lockout_window_minutes),
            )
            if until is not None and user is not None:
                await self._record_lock(user, until)
            raise Problem.not_authenticated(WRONG_CREDENTIALS)
        await self.guards.succeeded(guard)
        assert user is not None  # a password matched, so there is an account
        if user.get("deactivated_at") is not None:
            raise Problem.forbidden("Учётная запись отключена администратором.")
        if self.accounts.passwords.needs_rehash(user["password_hash"]):
            await self.accounts.users.update(
                user["_id"],
                user["version"],
                {"$set": {"password_hash": self.accounts.passwords.hash(password)}},
            )
        return await self._challenge(user)

    async def _find(self, login: str) -> dict[str, Any] | None:
        for kind, value in login_candidates(login):
            user = await self.accounts.users.by_index(kind, self.accounts.vault.index(kind, value))
            if user is not None:
                return user
        return None

    async def _record_lock(self, user: dict[str, Any], until: Any) -> None:
        event = self.accounts.event(
            catalog.AccountLocked(user_id=user["_id"], until=until, reason="password_failures"),
            user["_id"],
        )
        update = self.accounts.runtime.outbox.update(
            user["_id"], {"$set": {"locked_until": until}}, [event]
        )
        await self.accounts.users.update(user["_id"], user["version"], update)

    async def _challenge(self, user: dict[str, Any]) -> dict[str, Any]:
        challenge_id = new_id()
        now = now_utc()
        ttl = timedelta(seconds=self.settings.otp_ttl_seconds)
        document: dict[str, Any] = {
            "_id": challenge_id,
            "user_id": user["_id"],
            "attempts": 0,
            "expires_at": now + ttl,
        }
        events: list[Envelope] = []
        if user.get("totp"):
            channel = "totp"
        else:
            channel = "sms" if user["role"] == "citizen" else "email"
            person = self.accounts.vault.open(user["_id"], user["pii"])
            code = new_code()
            stored = OneTimeCode.issue(
                code, key=self.accounts.code_key, context=f"login:{challenge_id}", now=now, ttl=ttl
            )
            document["code"] = asdict(stored)
            events.append(
                self.accounts.courier.command(
                    subject=challenge_id,
                    user_id=user["_id"],
                    channel=channel,  # type: ignore[arg-type]
                    destination=person["phone" if channel == "sms" else "email"],
                    code=code,
                    purpose="login",
                    expires_at=stored.expires_at,
                )
            )
        document["channel"] = channel
        await self.challenges.insert(self.accounts.runtime.outbox.insert(document, events))
        return {
            "challenge_id": challenge_id,
            "channel": channel,
            "expires_in": self.settings.otp_ttl_seconds,
        }

    async def verify(self, challenge_id: str, code: str) -> dict[str, Any]:
        settings = self.settings
        challenge = await self.challenges.get(challenge_id)
        if challenge is None or challenge.get("done"):
            raise Problem.not_authenticated(
                "Вход не начат или уже завершён. Введите логин и пароль снова."
            )
        user = await self.accounts.require(challenge["user_id"])
        if challenge["channel"] == "totp":
            await self._verify_totp(challenge, user, code)
        else:
            stored = OneTimeCode(**challenge["code"])
            verdict, after = stored.check(
                code,
                key=self.accounts.code_key,
                context=f"login:{challenge_id}",
                now=now_utc(),
                max_attempts=settings.otp_max_attempts,
            )
            if verdict is not Verdict.ACCEPTED:
                await self.challenges.update(
                    challenge_id,
                    challenge["attempts"],
                    {"$set": {"code": asdict(after), "attempts": after.attempts}},
                )
                raise _wrong_code(verdict, settings.otp_max_attempts - after.attempts)
        if not await self.challenges.update(
            challenge_id, challenge["attempts"], {"$set": {"done": True}}
        ):
            raise Problem.not_authenticated(
                "Вход не начат или уже завершён. Введите логин и пароль снова."
            )
        return await self.issue(user)

    async def _verify_totp(
        self, challenge: dict[str, Any], user: dict[str, Any], code: str
    ) -> None:
        secret = self.accounts.vault.reveal(f"users.totp:{user['_id']}", user["totp"]["secret"])
        step = totp.matching_step(
            secret, code, unix_time=now_utc().timestamp(), last_used_step=user["totp"]["last_step"]
        )
        if step is None:
            attempts = challenge["attempts"] + 1
            await self.challenges.update(
                challenge["_id"], challenge["attempts"], {"$set": {"attempts": attempts}}
            )
            verdict = (
                Verdict.EXHAUSTED if attempts >= self.settings.otp_max_attempts else Verdict.WRONG
            )
            raise _wrong_code(verdict, self.settings.otp_max_attempts - attempts)
        if challenge["attempts"] >= self.settings.otp_max_attempts:
            raise _wrong_code(Verdict.EXHAUSTED)
        await self.accounts.users.update(
            user["_id"], user["version"], {"$set": {"totp.last_step": step}}
        )

    async def issue(
        self, user: dict[str, Any], session_id: str | None = None, auth_time: int | None = None
    ) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(32)
        now = int(now_utc().timestamp())
        if session_id is None:
            ttl = timedelta(days=self.settings.refresh_token_ttl_days)
            session_id = (await self.sessions.open(user["_id"], _hash_token(refresh), ttl)).id
            auth_time = now
        claims = {
            "iss": self.settings.access_token_issuer,
            "aud": self.settings.access_token_audience,
            "sub": user["_id"],
            "role": user["role"],
            "iat": now,
            "exp": now + self.settings.access_token_ttl_seconds,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
            # When the second factor was passed: a refresh keeps the login's time.
            "auth_time": auth_time if auth_time is not None else now,
        }
        if user.get("organization_id"):
            claims["org"] = user["organization_id"]
        return {
            "access_token": await self.keys.sign(claims),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl_seconds,
        }

    async def refresh(self, token: str) -> dict[str, Any]:
        presented = _hash_token(token)
        refresh = secrets.token_urlsafe(32)
        session = await self.sessions.rotate(presented, _hash_token(refresh))
        if session is None:
            await self.sessions.revoke_if_spent(presented)
            raise Problem.not_authenticated("Сеанс завершён. Войдите снова.")
        user = await self.accounts.require(session["user_id"])
        auth_time = int(session["created_at"].timestamp())
        tokens = await self.issue(user, session_id=session["_id"], auth_time=auth_time)
        tokens["refresh_token"] = refresh
        return tokens

    async def logout(self, session_id: str | None, user_id: str) -> None:
        if session_id:
            await self.sessions.revoke(session_id, user_id)


def _locked(seconds: float) -> Problem:
    wait = max(1, math.ceil(seconds))
    return Problem(
        429,
        detail=(
            "Вход временно заблокирован из-за неудачных попыток. "
            f"Попробуйте через {math.ceil(wait / 60)} мин."
        ),
        headers={"Retry-After": str(wait)},
    )


def _wrong_code(verdict: Verdict, remaining: int = 0) -> Problem:
    if verdict is Verdict.EXHAUSTED:
        return Problem.not_authenticated(
            "Код больше не действует: исчерпаны попытки. Войдите заново."
        )
    if verdict is Verdict.EXPIRED:
        return Problem.not_authenticated("Срок действия кода истёк. Войдите заново.")
    return Problem.validation(
        [
            FieldError(
                field="code",
                code="wrong_code",
                message=f"Неверный код. Осталось попыток: {remaining}.",
            )
        ]
    )
