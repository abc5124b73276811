"""Identity benchmark, against the real identity and notifications processes:

- logins per second: the password step (argon2id, the challenge, the sealed code in the
  outbox) under concurrent clients, and the full two-factor login's latency (code read
  from the SMS spool, as a person would);
- the cost of checking an access token: one endpoint served by uvicorn, open and
  protected, measured in the same run. Target: protected ≥ 85% of open throughput.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from emk_devstack.stack import Stack

LOGINS = 200
LOGIN_CONCURRENCY = 8
TWO_FACTOR_SAMPLES = 20
REQUESTS = 4000
CONCURRENCY = 16
ROUNDS = 3
CODE = re.compile(r"\b(\d{6})\b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _snils() -> str:
    from emk_identifiers import snils_check_number

    first_nine = f"{uuid.uuid4().int % 900_000_000 + 100_000_000:09d}"
    return f"{first_nine}{snils_check_number(first_nine):02d}"


async def register_citizen(http: httpx.AsyncClient) -> dict[str, str]:
    person = {
        "last_name": "Нагрузкина", "first_name": "Вера", "birth_date": "1991-01-01", "sex": "F",
        "phone": f"+79{uuid.uuid4().int % 1_000_000_000:09d}",
        "email": f"bench.{uuid.uuid4().hex[:10]}@example.ru",
        "password": "Длинный-пароль-для-замеров-1", "snils": _snils(),
    }  # fmt: skip
    answer = await http.post("/api/v1/identity/register", json=person)
    answer.raise_for_status()
    return person


async def sms_code(spool: Path, phone: str, seen: int) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if spool.exists():
            texts = [
                json.loads(x)["text"] for x in spool.read_text().splitlines() if f'"{phone}"' in x
            ]
            if len(texts) > seen:
                match = CODE.search(texts[-1])
                assert match is not None
                return match.group(1)
        await asyncio.sleep(0.005)
    raise TimeoutError("no SMS arrived")


async def logins(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.service_url("identity"), timeout=30) as http:
        person = await register_citizen(http)
        body = {"login": person["email"], "password": person["password"]}
        await http.post("/api/v1/identity/login", json=body)  # warm up
        queue = iter(range(LOGINS))

        async def client() -> None:
            for _ in queue:
                (await http.post("/api/v1/identity/login", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(LOGIN_CONCURRENCY)))
        per_second = LOGINS / (time.perf_counter() - started)

        spool = stack.sms_spool
        # Codes of the burst are still on their way; let them all land before sampling.
        expected = 1 + 1 + LOGINS  # the contact code, the warm-up, the burst
        await sms_code(spool, person["phone"], expected - 1)
        latencies = []
        for _ in range(TWO_FACTOR_SAMPLES):
            seen = sum(1 for x in spool.read_text().splitlines() if f'"{person["phone"]}"' in x)
            t0 = time.perf_counter()
            challenge = (await http.post("/api/v1/identity/login", json=body)).json()
            code = await sms_code(spool, person["phone"], seen)
            verified = await http.post(
                "/api/v1/identity/login/verify",
                json={"challenge_id": challenge["challenge_id"], "code": code},
            )
            verified.raise_for_status()
            latencies.append(time.perf_counter() - t0)
        token = verified.json()["access_token"]
    latencies.sort()
    return {
        "password_step_per_s": round(per_second, 1),
        "concurrency": LOGIN_CONCURRENCY,
        "two_factor_login_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
            "samples": TWO_FACTOR_SAMPLES,
        },
        "_token": token,
    }


async def _load(url: str, headers: dict[str, str]) -> float:
    async with httpx.AsyncClient(
        headers=headers, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as http:
        for _ in range(100):
            (await http.get(url)).raise_for_status()
        remaining = iter(range(REQUESTS))

        async def worker() -> None:
            for _ in remaining:
                (await http.get(url)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return REQUESTS / (time.perf_counter() - started)


async def verification_cost(stack: Stack, token: str) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, **stack.env, "LOG_LEVEL": "WARNING"}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "benchmarks.auth_app:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as probe:
            for _ in range(200):
                try:
                    if (await probe.get(f"{base}/open")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        auth = {"Authorization": f"Bearer {token}"}
        opened, protected = [], []
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            opened.append(await _load(f"{base}/open", {}))
            protected.append(await _load(f"{base}/protected", auth))
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
    ratio = statistics.median(protected) / statistics.median(opened)
    return {
        "open_per_s": round(statistics.median(opened), 1),
        "protected_per_s": round(statistics.median(protected), 1),
        "rounds": {"open": [round(x) for x in opened], "protected": [round(x) for x in protected]},
        "requests_per_round": REQUESTS,
        "concurrency": CONCURRENCY,
        "ratio": round(ratio, 3),
        "target": ">= 0.85",
        "met": ratio >= 0.85,
    }


async def verify_cpu_cost(stack: Stack, token: str, count: int = 3000) -> dict[str, Any]:
    """The check itself, without HTTP: keys come from identity's JWKS once, then the cache."""
    from emk_common.auth import AccessTokenVerifier, JwksCache

    keys = JwksCache(f"{stack.service_url('identity')}/.well-known/jwks.json", ttl=300)
    verifier = AccessTokenVerifier(keys, issuer="emk-identity", audience="emk")
    await verifier.verify(token)
    started = time.perf_counter()
    for _ in range(count):
        await verifier.verify(token)
    per_token = (time.perf_counter() - started) / count
    return {"microseconds_per_token": round(per_token * 1e6, 1), "tokens": count}


async def run(stack: Stack) -> dict[str, Any]:
    login = await logins(stack)
    token = login.pop("_token")
    verification = await verification_cost(stack, token)
    verification["cpu_cost"] = await verify_cpu_cost(stack, token)
    verification["note"] = (
        "The load generator is Python on the same two cores; cpu_cost is the check alone."
    )
    return {"logins": login, "token_verification": verification}
