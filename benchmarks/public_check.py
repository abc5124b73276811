"""The public check's throughput and p99 against a bare FastAPI endpoint doing the same
indexed lookup by code (``benchmarks/check_app.py``), measured in the same run, interleaved
round by round. Target: the service keeps ≥ 60 % of the baseline's throughput — with every
check counted and its time logged on its share, durably, before it answers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import sys
import time
import uuid
from typing import Any

import httpx
import jwt
from pymongo import AsyncMongoClient

from benchmarks.documents import _token as citizen_token
from benchmarks.records import _issue
from emk_devstack.stack import Stack

CONCURRENCY = 8
REQUESTS = 600
ROUNDS = 3
SEEDED = 1000  # codes in the baseline's collection


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _load(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    concurrency: int = CONCURRENCY,
    requests: int = REQUESTS,
) -> tuple[float, list[float]]:
    """Requests per second and each request's latency: ``requests`` GETs of ``url``,
    ``concurrency`` at a time, after 50 to warm up (the gateway bench uses it too)."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as http:
        for _ in range(50):
            (await http.get(url)).raise_for_status()
        remaining = iter(range(requests))

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                (await http.get(url)).raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started), latencies


async def _baseline_server(stack: Stack) -> tuple[asyncio.subprocess.Process, str, str]:
    database = f"bench_check_{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"])
    codes = client[database]["codes"]
    await codes.create_index("code", unique=True)
    await codes.insert_many(
        [
            {
                "code": secrets.token_hex(16),
                "valid": True,
                "holder": "Иванов И. И.",
                "book_number": "77-01-000123-26",
                "valid_until": "2027-11-20",
            }
            for _ in range(SEEDED)
        ]
    )
    probe = await codes.find_one({})
    assert probe is not None
    await client.close()
    port = _free_port()
    env = {**os.environ, **stack.env, "BENCH_CHECK_DATABASE": database}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "benchmarks.check_app:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"{base}/verify/{probe['code']}")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    return server, f"{base}/verify/{probe['code']}", database


async def run(stack: Stack) -> dict[str, Any]:
    token = await citizen_token(stack)
    holder_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    await _issue(holder_id)
    records = f"{stack.service_url('records')}/api/v1/records"
    async with httpx.AsyncClient(timeout=30) as http:
        made = await http.post(
            f"{records}/book/shares", json={"expires_in_days": 30},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        made.raise_for_status()
    service_url = f"{records}/verify/{made.json()['code']}"
    server, baseline_url, database = await _baseline_server(stack)
    service: list[float] = []
    baseline: list[float] = []
    service_latencies: list[float] = []
    baseline_latencies: list[float] = []
    try:
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            rate, latencies = await _load(baseline_url)
            baseline.append(rate)
            baseline_latencies += latencies
            rate, latencies = await _load(service_url)
            service.append(rate)
            service_latencies += latencies
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"])
        await client.drop_database(database)
        await client.close()
    ratio = statistics.median(service) / statistics.median(baseline)

    def p99(samples: list[float]) -> float:
        return round(sorted(samples)[int(0.99 * (len(samples) - 1))] * 1000, 2)

    return {
        "service_per_s": round(statistics.median(service), 1),
        "baseline_per_s": round(statistics.median(baseline), 1),
        "service_p99_ms": p99(service_latencies),
        "baseline_p99_ms": p99(baseline_latencies),
        "rounds": {
            "service": [round(x) for x in service],
            "baseline": [round(x) for x in baseline],
        },
        "requests_per_round": REQUESTS,
        "concurrency": CONCURRENCY,
        "baseline": "bare FastAPI + one find_one on a unique index, same MongoDB, own process",
        "service_does": "limit per address (in memory), share and its public card by blind index, "
        "check logged (group commit)",
        "ratio": round(ratio, 3),
        "target": ">= 0.6",
        "met": ratio >= 0.6,
    }
