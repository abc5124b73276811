from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

from emk_common.auth import (
    AccessTokenVerifier,
    CurrentPrincipal,
    JwksCache,
    Principal,
    StaticKeys,
    require_roles,
)
from emk_common.auth.keys import _parse_jwks
from emk_common.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from emk_common.service_auth import ServiceTokenIssuer
from emk_common.settings import ServiceSettings
from emk_testing import eventually

ISSUER, AUDIENCE = "emk-identity", "emk"
KEY_1, KEY_2, STRANGER = (Ed25519PrivateKey.generate() for _ in range(3))
JWKS_URL = "http://identity/.well-known/jwks.json"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-1",
        "role": "citizen",
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "sid": "s-1",
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def signed(
    payload: dict[str, Any] | None = None,
    key: Ed25519PrivateKey = KEY_1,
    kid: str | None = "user-1",
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload or claims(), key, algorithm="EdDSA", headers=headers)


class Identity:
    """A JWKS endpoint that counts its fetches and can be switched off."""

    def __init__(self, **keys: Ed25519PrivateKey) -> None:
        self.keys = dict(keys)
        self.fetches = 0
        self.up = True
        self.broken: httpx.Response | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        await asyncio.sleep(0.01)  # let concurrent callers pile up behind the fetch
        if not self.up:
            raise httpx.ConnectError("identity is down", request=request)
        if self.broken is not None:
            return self.broken
        jwks = [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(key.public_key().public_bytes_raw()),
                "kid": kid.replace("_", "-"),
                "alg": "EdDSA",
                "use": "sig",
            }
            for kid, key in self.keys.items()
        ]
        jwks.append({"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"})  # skipped
        return httpx.Response(200, json={"keys": jwks})

    def cache(
        self, clock: Callable[[], float], *, ttl: float = 300.0, interval: float = 5.0
    ) -> JwksCache:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return JwksCache(
            JWKS_URL, ttl=ttl, client=client, min_refresh_interval=interval, clock=clock
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(keys: Any, **kwargs: Any) -> AccessTokenVerifier:
    return AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, **kwargs)


async def accepted(verify: AccessTokenVerifier, token: str) -> bool:
    try:
        await verify.verify(token)
    except Problem:
        return False
    return True


# --- the JWKS cache ---------------------------------------------------------------


async def test_keys_are_cached_until_the_ttl() -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))

    for _ in range(5):
        assert (await verify.verify(signed())).user_id == "u-1"
    assert identity.fetches == 1
    clock.now += 299
    assert await accepted(verify, signed())
    assert identity.fetches == 1
    clock.now += 2
    assert await accepted(verify, signed())
    assert identity.fetches == 2


async def test_an_unknown_kid_triggers_one_refresh() -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))
    assert await accepted(verify, signed())

    clock.now += 6
    assert not await accepted(verify, signed(key=KEY_2, kid="user-2"))
    assert identity.fetches == 2
    assert not await accepted(verify, signed(key=KEY_2, kid="user-2"))
    assert identity.fetches == 2  # within the interval: the cache answers


async def test_a_storm_of_unknown_kids_costs_one_fetch_per_interval() -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))

    async def storm() -> list[bool]:
        tokens = [signed(key=STRANGER, kid=uuid.uuid4().hex) for _ in range(50)]
        return await asyncio.gather(*(accepted(verify, token) for token in tokens))

    assert not any(await storm())
    assert identity.fetches == 1
    clock.now += 4
    assert not any(await storm())
    assert identity.fetches == 1
    clock.now += 2
    assert not any(await storm())
    assert identity.fetches == 2
    assert await accepted(verify, signed())


async def test_concurrent_refreshes_collapse_into_one() -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock, interval=0.0))

    results = await asyncio.gather(*(accepted(verify, signed()) for _ in range(20)))
    assert all(results)
    assert identity.fetches == 1


async def test_key_rotation() -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))
    old = signed()
    assert await accepted(verify, old)

    identity.keys["user_2"] = KEY_2  # identity rotates: the new key signs, the old is listed
    clock.now += 6
    assert await accepted(verify, signed(key=KEY_2, kid="user-2"))
    assert await accepted(verify, old)
    assert identity.fetches == 2

    del identity.keys["user_1"]  # every token of the old key has expired
    clock.now += 300
    assert not await accepted(verify, old)
    assert await accepted(verify, signed(key=KEY_2, kid="user-2"))


async def test_identity_outage_keeps_the_cached_keys(caplog: pytest.LogCaptureFixture) -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))
    assert await accepted(verify, signed())

    identity.up = False
    clock.now += 400
    with caplog.at_level(logging.WARNING, logger="emk_common.auth"):
        assert await accepted(verify, signed())
        assert not await accepted(verify, signed(key=KEY_2, kid="user-2"))
    assert "unavailable (ConnectError), keeping 1 cached keys" in caplog.text
    assert identity.fetches == 2  # the failed fetch is not retried within the interval

    identity.up = True
    clock.now += 6
    assert await accepted(verify, signed())
    assert identity.fetches == 3


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"keys": []}),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json=[{"kid": "user-1"}]),
    ],
)
async def test_a_broken_jwks_keeps_the_cached_keys(response: httpx.Response) -> None:
    identity, clock = Identity(user_1=KEY_1), Clock()
    verify = verifier(identity.cache(clock))
    assert await accepted(verify, signed())

    identity.broken = response
    clock.now += 400
    assert await accepted(verify, signed())
    assert identity.fetches == 2


def test_only_ed25519_signing_keys_are_taken_from_a_jwks() -> None:
    x = b64(KEY_1.public_key().public_bytes_raw())
    good = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"}
    document = {
        "keys": [
            good,
            good | {"kid": "b", "alg": "EdDSA", "use": "sig"},
            good | {"kid": "c", "crv": "X25519"},
            good | {"kid": "d", "use": "enc"},
            good | {"kid": "e", "alg": "ES256"},
            good | {"kid": "f", "x": x[:-4]},
            good | {"kid": ""},
            "junk",
        ]
    }
    assert sorted(_parse_jwks(document)) == ["a", "b"]
    with pytest.raises(ValueError, match="JWKS"):
        _parse_jwks({"keys": "a"})


async def test_no_keys_because_identity_is_away_is_a_503_not_a_401() -> None:
    """An infrastructure failure is never an authentication failure (#15): the caller is
    told to come back, not to sign in again."""
    identity, clock = Identity(user_1=KEY_1), Clock()
    identity.up = False
    with pytest.raises(Problem) as caught:
        await verifier(identity.cache(clock)).verify(signed())
    assert caught.value.status == 503


async def test_keys_are_fetched_at_start_until_identity_answers() -> None:
    """A replica starting before identity keeps trying in the background (not on the request
    path), so its first token is checked against keys in hand."""
    identity, clock = Identity(user_1=KEY_1), Clock()
    identity.up = False
    cache = identity.cache(clock)
    warming = asyncio.create_task(cache.warm(every=0.01))

    async def tried_twice() -> bool | None:
        return True if identity.fetches >= 2 else None

    await eventually(tried_twice, within=5, what="two fetches while identity is down")
    assert not warming.done()
    identity.up = True
    await asyncio.wait_for(warming, 5)
    fetches = identity.fetches
    assert await verifier(cache).verify(signed()) is not None
    assert identity.fetches == fetches  # the token was checked against the keys in hand


async def test_cache_from_settings() -> None:
    settings = ServiceSettings(identity_url="http://identity:8001/", jwks_cache_seconds=60)
    assert JwksCache.from_settings(settings).url == "http://identity:8001/.well-known/jwks.json"
    assert isinstance(AccessTokenVerifier.from_settings(settings), AccessTokenVerifier)


# --- refusals through a route -----------------------------------------------------

Staff = Annotated[Principal, Depends(require_roles("operator", "admin"))]
STATIC = StaticKeys({"user-1": KEY_1.public_key(), "user-2": KEY_2.public_key()})


def protected_app(keys: Any = STATIC, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.access_verifier = verifier(keys, **kwargs)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return dataclasses.asdict(principal)

    @app.get("/queue")
    async def queue(principal: Staff) -> dict[str, str]:
        return {"role": principal.role}

    return app


async def call(app: FastAPI, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get(path, headers=headers)


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def altered() -> str:
    header, _, signature = signed(claims(role="citizen")).split(".")
    return f"{header}.{b64(json.dumps(claims(role='admin')).encode())}.{signature}"


def service_token() -> str:
    seed = KEY_1.private_bytes_raw()
    minted = ServiceTokenIssuer("records", {"k1": seed}, "k1", 60)
    return minted.token_for("identity")


def typ_service() -> str:
    return signed(claims(typ="service"))


NOW = int(time.time())
REFUSALS: dict[str, tuple[Callable[[], str], str]] = {
    "alg none": (lambda: unsigned({"alg": "none", "kid": "user-1"}, claims()), "'none'"),
    "hs256 with the public key": (
        lambda: jwt.encode(
            claims(),
            KEY_1.public_key().public_bytes_raw(),
            algorithm="HS256",
            headers={"kid": "user-1"},
        ),
        "'HS256'",
    ),
    "no kid": (lambda: signed(kid=None), "no usable kid"),
    "unknown kid": (lambda: signed(key=STRANGER, kid="user-9"), "unknown key 'user-9'"),
    "signed by another key": (lambda: signed(key=STRANGER), "InvalidSignatureError"),
    "payload altered": (altered, "InvalidSignatureError"),
    "not yet valid (nbf)": (lambda: signed(claims(nbf=NOW + 3600)), "ImmatureSignatureError"),
    "issued in the future": (lambda: signed(claims(iat=NOW + 3600)), "ImmatureSignatureError"),
    "wrong issuer": (lambda: signed(claims(iss="evil")), "InvalidIssuerError"),
    "wrong audience": (lambda: signed(claims(aud="emk:records")), "InvalidAudienceError"),
    "audience list": (lambda: signed(claims(aud=[AUDIENCE, "x"])), "InvalidAudienceError"),
    "no sub": (lambda: signed(claims(sub=None)), "MissingRequiredClaimError"),
    "no role": (lambda: signed(claims(role=None)), "MissingRequiredClaimError"),
    "no jti": (lambda: signed(claims(jti=None)), "MissingRequiredClaimError"),
    "no exp": (lambda: signed(claims(exp=None)), "MissingRequiredClaimError"),
    "no iat": (lambda: signed(claims(iat=None)), "MissingRequiredClaimError"),
    "empty sub": (lambda: signed(claims(sub="")), "malformed sub/org/sid"),
    "org not a string": (lambda: signed(claims(org=42)), "malformed sub/org/sid"),
    "unknown role": (lambda: signed(claims(role="superuser")), "unknown role 'superuser'"),
    "role not a string": (lambda: signed(claims(role=["admin"])), "unknown role"),
    "typ service": (typ_service, "typ 'service'"),
    "a real service token": (service_token, "'records:k1'"),
    "garbage": (lambda: "not-a-jwt", "malformed token"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refusals_are_401_problems(case: str, caplog: pytest.LogCaptureFixture) -> None:
    make, reason = REFUSALS[case]
    token = make()
    with caplog.at_level(logging.WARNING, logger="emk_common.auth"):
        response = await call(protected_app(), "/me", token)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["detail"] == "Требуется вход в систему."
    assert reason in caplog.text
    assert token not in caplog.text


async def test_expired_says_so() -> None:
    token = signed(claims(iat=NOW - 1000, exp=int(time.time()) - 10))
    response = await call(protected_app(), "/me", token)
    assert response.status_code == 401
    assert response.json()["detail"] == "Сеанс истёк, войдите снова."
    # a few seconds past expiry still pass: two hosts' clocks are never equal
    fresh = signed(claims(iat=NOW - 1000, exp=int(time.time()) - 2))
    assert (await call(protected_app(), "/me", fresh)).status_code == 200


@pytest.mark.parametrize("authorization", [None, "Basic YTpi", "Bearer", "Bearer "])
async def test_missing_token(authorization: str | None) -> None:
    transport = httpx.ASGITransport(app=protected_app())
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Требуется вход в систему."


async def test_revoked_session() -> None:
    async def is_revoked(principal: Principal) -> bool:
        return principal.session_id == "s-out"

    app = protected_app(is_revoked=is_revoked)
    assert (await call(app, "/me", signed(claims(sid="s-1")))).status_code == 200
    response = await call(app, "/me", signed(claims(sid="s-out")))
    assert response.status_code == 401
    assert response.json()["detail"] == "Требуется вход в систему."


async def test_principal() -> None:
    token = signed(claims(role="medical_worker", org="mo-7", jti="j-1"), key=KEY_2, kid="user-2")
    response = await call(protected_app(), "/me", token)

    assert response.status_code == 200
    assert response.json() == {
        "user_id": "u-1",
        "role": "medical_worker",
        "organization_id": "mo-7",
        "session_id": "s-1",
        "token_id": "j-1",
        "auth_time": None,
    }
    bare = signed(claims(sid=None))
    assert (await call(protected_app(), "/me", bare)).json()["session_id"] is None


async def test_the_login_time_is_read_and_must_be_a_number() -> None:
    stepped = signed(claims(auth_time=1_700_000_000))
    assert (await call(protected_app(), "/me", stepped)).json()["auth_time"] == 1_700_000_000
    for wrong in ("1700000000", True, 1.5):
        answer = await call(protected_app(), "/me", signed(claims(auth_time=wrong)))
        assert answer.status_code == 401, wrong


async def test_roles() -> None:
    app = protected_app()
    forbidden = await call(app, "/queue", signed(claims(role="citizen")))
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert forbidden.json()["title"] == "Доступ запрещён"

    for role in ("operator", "admin"):
        allowed = await call(app, "/queue", signed(claims(role=role)))
        assert allowed.status_code == 200
        assert allowed.json() == {"role": role}
    assert (await call(app, "/queue", None)).status_code == 401


def test_require_roles_refuses_typos() -> None:
    with pytest.raises(ValueError, match="roles among"):
        require_roles("nurse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="roles among"):
        require_roles()


async def test_without_a_verifier_on_the_app_is_a_wiring_error() -> None:
    app = protected_app()
    del app.state.access_verifier
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {signed()}"})
    assert response.status_code == 500
