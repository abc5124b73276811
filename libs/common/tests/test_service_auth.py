from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

from emk_common.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from emk_common.service_auth import (
    ServiceAuth,
    ServiceTokenIssuer,
    ServiceTokenVerifier,
    public_key_for,
    require_service,
)
from emk_common.settings import ServiceSettings, encode_keyring

APPLICATIONS_SEED = os.urandom(32)
RECORDS_SEED = os.urandom(32)
PUBLIC_KEYRINGS = {
    "applications": {"k1": public_key_for(APPLICATIONS_SEED)},
    "records": {"k7": public_key_for(RECORDS_SEED)},
}


def issuer(
    service: str = "applications",
    seed: bytes = APPLICATIONS_SEED,
    kid: str = "k1",
    ttl: int = 60,
    clock: Any = time.time,
) -> ServiceTokenIssuer:
    return ServiceTokenIssuer(service, {kid: seed}, kid, ttl, clock=clock)


def verifier(trusted: tuple[str, ...] = ("applications",)) -> ServiceTokenVerifier:
    return ServiceTokenVerifier("identity", PUBLIC_KEYRINGS, trusted)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "applications",
        "sub": "applications",
        "aud": "emk:identity",
        "iat": now,
        "exp": now + 60,
        "jti": "j-1",
        "typ": "service",
    }
    return base | overrides


def signed(
    payload: dict[str, Any], seed: bytes = APPLICATIONS_SEED, kid: str = "applications:k1"
) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


class Refusals:
    """Verifies a token expecting a refusal, and checks the logged reason."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __call__(
        self,
        token: str,
        reason: str,
        status: int = 401,
        trusted: tuple[str, ...] = ("applications",),
    ) -> Problem:
        self.caplog.clear()
        with (
            self.caplog.at_level(logging.WARNING, logger="emk_common.service_auth"),
            pytest.raises(Problem) as caught,
        ):
            verifier(trusted).verify(token)
        assert caught.value.status == status
        logged = " | ".join(r.getMessage() for r in self.caplog.records)
        assert reason in logged
        if token:
            assert token not in logged
        return caught.value


@pytest.fixture
def refused(caplog: pytest.LogCaptureFixture) -> Refusals:
    return Refusals(caplog)


def test_round_trip() -> None:
    token = issuer().token_for("identity")

    assert verifier().verify(token) == "applications"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == "applications:k1"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == payload["sub"] == "applications"
    assert payload["aud"] == "emk:identity"
    assert payload["typ"] == "service"
    assert payload["exp"] - payload["iat"] == 60
    assert len(payload["jti"]) == 36


def test_tokens_are_cached_per_audience_and_renewed() -> None:
    now = [1_000_000.0]
    minted = issuer(ttl=60, clock=lambda: now[0])

    first = minted.token_for("identity")
    assert minted.token_for("identity") == first
    assert minted.token_for("records") != first
    now[0] += 39  # 21 s left: more than a third of 60
    assert minted.token_for("identity") == first
    now[0] += 2  # 19 s left
    renewed = minted.token_for("identity")
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == 1_000_041


def test_single_key_is_active_without_a_kid() -> None:
    minted = ServiceTokenIssuer("applications", {"k1": APPLICATIONS_SEED}, None, 60)
    assert verifier().verify(minted.token_for("identity")) == "applications"
    with pytest.raises(ValueError, match="signing_kid"):
        ServiceTokenIssuer("applications", {"a": APPLICATIONS_SEED, "b": RECORDS_SEED}, "", 60)
    with pytest.raises(ValueError, match="32-byte"):
        ServiceTokenIssuer("applications", {"k1": b"short"}, "k1", 60)


def test_alg_none_is_refused(refused: Refusals) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'applications:k1'})}.{b64(claims())}."
    refused(token, "algorithm 'none'")


def test_hmac_with_the_public_key_as_secret_is_refused(refused: Refusals) -> None:
    public = PUBLIC_KEYRINGS["applications"]["k1"]
    token = jwt.encode(claims(), public, algorithm="HS256", headers={"kid": "applications:k1"})
    refused(token, "algorithm 'HS256'")


def test_payload_altered_after_signing_is_refused(refused: Refusals) -> None:
    token = issuer().token_for("records")
    header, _, signature = token.split(".")
    forged = claims(aud="emk:identity")
    refused(f"{header}.{b64(forged)}.{signature}", "InvalidSignatureError")


def test_key_not_in_the_ring_is_refused(refused: Refusals) -> None:
    stranger = os.urandom(32)
    # the kid names a known key, the signature is not by it
    refused(signed(claims(), seed=stranger), "InvalidSignatureError")
    refused(signed(claims(), seed=stranger, kid="applications:k9"), "unknown key")
    refused(signed(claims(), seed=stranger, kid="billing:k1"), "unknown key")
    refused(signed(claims(), kid="k1"), "unknown key")  # no service part


def test_expired_is_refused_with_a_small_leeway(refused: Refusals) -> None:
    now = time.time()
    stale = issuer(clock=lambda: now - 70).token_for("identity")  # expired 10 s ago
    refused(stale, "ExpiredSignatureError")
    # 3 s past expiry still passes: the clocks of two hosts are never equal
    assert verifier().verify(issuer(clock=lambda: now - 63).token_for("identity"))


def test_wrong_audience_is_refused(refused: Refusals) -> None:
    refused(issuer().token_for("records"), "InvalidAudienceError")
    refused(signed(claims(aud=["emk:identity", "emk:records"])), "InvalidAudienceError")


def test_not_a_service_token_is_refused(refused: Refusals) -> None:
    refused(signed(claims(typ="access")), "not a service token")
    refused(signed({k: v for k, v in claims().items() if k != "typ"}), "not a service token")


def test_kid_service_must_be_the_issuer(refused: Refusals) -> None:
    # records signs with its own key but claims to be applications
    refused(signed(claims(), seed=RECORDS_SEED, kid="records:k7"), "issuer 'applications'")
    refused(signed(claims(sub="records"), kid="applications:k1"), "issuer 'applications'")


def test_missing_claim_and_excessive_lifetime_are_refused(refused: Refusals) -> None:
    refused(signed({k: v for k, v in claims().items() if k != "jti"}), "MissingRequiredClaimError")
    now = int(time.time())
    refused(signed(claims(iat=now, exp=now + 86_400)), "lifetime over 600 s")


def test_garbage_is_refused(refused: Refusals) -> None:
    refused("not-a-jwt", "malformed token")
    refused("", "malformed token")


def test_untrusted_caller_is_forbidden(refused: Refusals) -> None:
    token = issuer().token_for("identity")
    problem = refused(token, "not a trusted caller", status=403, trusted=("records",))
    assert problem.detail == "Сервису «applications» не разрешено обращаться к этому API."


def test_from_settings() -> None:
    class Applications(ServiceSettings):
        service_name = "applications"

    class Identity(ServiceSettings):
        service_name = "identity"

    public = json.loads(encode_keyring({"k1": public_key_for(APPLICATIONS_SEED)}))
    caller = Applications(signing_keys=encode_keyring({"k1": APPLICATIONS_SEED}))
    callee = Identity(
        service_public_keys=json.dumps({"applications": public}),
        trusted_callers=["applications"],
    )

    token = ServiceTokenIssuer.from_settings(caller).token_for("identity")
    assert ServiceTokenVerifier.from_settings(callee).verify(token) == "applications"


CallingService = Annotated[str, Depends(require_service(verifier()))]


def internal_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/internal/v1/users/{user_id}")
    async def user(user_id: str, caller: CallingService) -> dict[str, str]:
        return {"user_id": user_id, "caller": caller}

    return app


async def test_protected_route_with_service_auth() -> None:
    transport = httpx.ASGITransport(app=internal_app())
    auth = ServiceAuth(issuer(), "identity")
    async with httpx.AsyncClient(transport=transport, base_url="http://identity", auth=auth) as c:
        response = await c.get("/internal/v1/users/u-1")

    assert response.status_code == 200
    assert response.json() == {"user_id": "u-1", "caller": "applications"}


@pytest.mark.parametrize("authorization", [None, "Basic YTpi", "Bearer not-a-jwt"])
async def test_protected_route_without_a_valid_token(authorization: str | None) -> None:
    transport = httpx.ASGITransport(app=internal_app())
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        response = await client.get("/internal/v1/users/u-1", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["title"] == "Требуется аутентификация"


async def test_openapi_declares_the_bearer_scheme() -> None:
    schema = internal_app().openapi()
    assert schema["components"]["securitySchemes"]["ServiceToken"]["scheme"] == "bearer"
