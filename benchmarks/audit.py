"""The audit journal's cost on a read: a medical worker's ``GET /books/{id}`` with
``X-Access-Reason`` through the running records service — its entry inserted before the
answer leaves, sealed into the chain in batches and anchored at identity — against the same
read of the same book by the same worker through the same service code without the journal
(``benchmarks/audit_app.py``), measured in the same run, interleaved round by round.
Target: the audited read keeps ≥ 80 % of the baseline's throughput. Afterwards the journal is
verified as ``emk-audit verify`` does: every read sealed, the chain intact up to identity's
anchors.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

import httpx
import jwt
from pymongo import AsyncMongoClient

from benchmarks.documents import _token as citizen_token
from benchmarks.public_check import _free_port, _load
from benchmarks.records import _issue, _worker
from emk_common.journal import ACCESS_LOG, Verdict, verify
from emk_devstack.stack import Stack

ROUNDS = 3
TARGET = 0.8


async def _baseline_server(stack: Stack) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "benchmarks.audit_app:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
        env={**os.environ, **stack.env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    return server, base


async def _journal_verdict(within: float = 60.0) -> tuple[Verdict, float]:
    """The records journal once every entry is sealed and the last anchor kept (or the
    deadline passed), and how long that took after the last read."""
    from identity.settings import IdentitySettings
    from records.settings import RecordsSettings

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ["MONGODB_URI"], tz_aware=True
    )
    journal = client[RecordsSettings().mongodb_database][ACCESS_LOG]
    anchors = client[IdentitySettings().mongodb_database]["audit_anchors"]
    started = time.perf_counter()
    try:
        while True:
            verdict = await verify(journal, anchors, "records")
            settled = verdict.unsealed == 0 and verdict.anchored == verdict.entries
            if settled or verdict.finding or time.perf_counter() - started > within:
                return verdict, time.perf_counter() - started
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def run(stack: Stack) -> dict[str, Any]:
    records = f"{stack.service_url('records')}/api/v1/records"
    worker_token, _, _ = await _worker(stack)
    holder_token = await citizen_token(stack)
    holder = jwt.decode(holder_token, options={"verify_signature": False})["sub"]
    book_id, number, snils = await _issue(holder)
    worker = {"Authorization": f"Bearer {worker_token}"}
    async with httpx.AsyncClient(timeout=60) as http:
        found = await http.post(f"{records}/books/lookup", headers=worker,
                                json={"snils": snils, "number": number})  # fmt: skip
        assert found.status_code == 200, found.text
    headers = {**worker, "X-Access-Reason": "osmotr"}
    server, baseline_base = await _baseline_server(stack)
    audited_url = f"{records}/books/{book_id}"
    baseline_url = f"{baseline_base}/api/v1/records/books/{book_id}"
    audited: list[float] = []
    baseline: list[float] = []
    audited_latencies: list[float] = []
    baseline_latencies: list[float] = []
    try:
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            rate, latencies = await _load(baseline_url, headers)
            baseline.append(rate)
            baseline_latencies += latencies
            rate, latencies = await _load(audited_url, headers)
            audited.append(rate)
            audited_latencies += latencies
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
    verdict, settled_s = await _journal_verdict()
    ratio = statistics.median(audited) / statistics.median(baseline)

    def p99(samples: list[float]) -> float:
        return round(sorted(samples)[int(0.99 * (len(samples) - 1))] * 1000, 2)

    return {
        "audited_per_s": round(statistics.median(audited), 1),
        "baseline_per_s": round(statistics.median(baseline), 1),
        "audited_p99_ms": p99(audited_latencies),
        "baseline_p99_ms": p99(baseline_latencies),
        "rounds": {
            "audited": [round(x) for x in audited],
            "baseline": [round(x) for x in baseline],
        },
        "audited_does": "the records service's worker read with X-Access-Reason: one journal "
        "insert before the answer; sealed in batches (SHA-256, RFC 8785) and anchored at identity",
        "baseline": "the same service code and read, its access log keeping nothing, no sealer, "
        "own process (benchmarks/audit_app.py)",
        "journal": str(verdict),
        "journal_intact": verdict.finding is None and verdict.unsealed == 0,
        "sealed_and_anchored_within_s": round(settled_s, 2),
        "ratio": round(ratio, 3),
        "target": f">= {TARGET}",
        "met": ratio >= TARGET,
    }
