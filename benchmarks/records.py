"""Records benchmark, against the real records process, identity's tokens and a medical
worker made by the admin:

- ``GET /book`` p99 with 5 and with 300 records in the book, interleaved request by request
  (target: the ratio 300/5 ≤ 1.3);
- a signed record write p50 through the service against a plain MongoDB write of the same
  size plus an Ed25519 verification, measured in the same run (target: ≤ 2× that baseline).
"""

from __future__ import annotations

import base64
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import AsyncMongoClient

from benchmarks.documents import _token as citizen_token
from emk_devstack.demo import Journey
from emk_devstack.demo_book import medical_worker
from emk_devstack.stack import Stack

SMALL, LARGE = 5, 300
READS = 400
WRITES = 100
KINDS = ("exam", "lab_result", "vaccination", "certification")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _record(book_id: str, n: int) -> dict[str, Any]:
    """A record of one of the four kinds, dated within this year."""
    day = f"2026-{1 + n % 10:02d}-{1 + n % 28:02d}"
    kind = KINDS[n % len(KINDS)]
    common = {"record_id": str(uuid.uuid4()), "book_id": book_id, "kind": kind, "date": day}
    fields: dict[str, dict[str, Any]] = {
        "exam": {"exam_type": "periodic", "specialists": ["терапевт", "дерматовенеролог"],
                 "conclusion": "fit", "recommendations": "Повторный осмотр через 12 месяцев"},
        "lab_result": {"test": "fluorography", "result": "normal"},
        "vaccination": {"disease": "influenza", "vaccine": "Гриппол плюс", "dose": 1},
        "certification": {"category": "food", "passed": True},
    }  # fmt: skip
    return {**common, **fields[kind]}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(value: float) -> float:
    return round(value * 1000, 2)


async def _issue(holder_id: str) -> tuple[str, str, str]:
    """A book issued straight through the records store (the approval's path is the e2e
    suite's): its id, number and СНИЛС."""
    from emk_common.crypto import BlindIndex, FieldCipher
    from emk_common.service import create_runtime
    from emk_identifiers import snils_check_number
    from records.domain import book as domain
    from records.domain.book import Holder, Position
    from records.settings import RecordsSettings
    from records.store import BookStore

    settings = RecordsSettings()
    runtime = create_runtime(settings, produces=[], outbox_collections=["books"])
    store = BookStore(
        runtime, FieldCipher.from_settings(settings), BlindIndex.from_settings(settings)
    )
    now = datetime.now(UTC)
    first_nine = f"{uuid.uuid4().int % 900_000_000 + 100_000_000:09d}"
    snils = f"{first_nine}{snils_check_number(first_nine):02d}"
    holder = Holder("Нагрузкина", "Вера", None, now.date().replace(year=1991), snils)
    number = f"77-99-{uuid.uuid4().int % 10**6:06d}-26"
    book, events = domain.issue(
        book_id=uuid.uuid4().hex, holder_id=holder_id, number=number, holder=holder,
        position=Position(uuid.uuid4().hex, "ООО «Замер»", None, "Повар", None, now.date()),
        now=now, today=now.date(),
    )  # fmt: skip
    await store.insert(book, events, now.date())
    await runtime.mongo.close()
    return book.id, number, snils


async def _worker(stack: Stack) -> tuple[str, Ed25519PrivateKey, str]:
    journey = Journey.on(stack, lambda _: None)
    try:
        admin = await journey.login(
            journey.admin_email, journey.admin_password, journey.admin_email
        )
        return await medical_worker(journey, admin)
    finally:
        await journey.http.aclose()


async def _baseline(samples: int) -> list[float]:
    """A plain MongoDB write of a record's size, plus an Ed25519 verification."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"])
    collection = client[f"bench_records_{uuid.uuid4().hex[:8]}"]["writes"]
    await collection.insert_one({"_id": "book", "records": []})
    timings = []
    try:
        for n in range(samples + 5):
            record = _record("book", n)
            canonical = rfc8785.dumps(record)
            signature = key.sign(canonical)
            started = time.perf_counter()
            public.verify(signature, canonical)
            await collection.update_one(
                {"_id": "book"},
                {"$push": {"records": {"sealed": canonical.hex(), "sig": signature.hex()}}},
            )
            if n >= 5:  # warmed up
                timings.append(time.perf_counter() - started)
    finally:
        await client.drop_database(collection.database.name)
        await client.close()
    return timings


async def run(stack: Stack) -> dict[str, Any]:
    records_url = f"{stack.service_url('records')}/api/v1/records"
    worker_token, key, key_id = await _worker(stack)
    citizens = [await citizen_token(stack) for _ in range(3)]
    holders = [jwt.decode(t, options={"verify_signature": False})["sub"] for t in citizens]
    books = [await _issue(h) for h in holders]
    worker = {"Authorization": f"Bearer {worker_token}"}
    async with httpx.AsyncClient(timeout=60) as http:
        for _, number, snils in books:
            found = await http.post(f"{records_url}/books/lookup", headers=worker,
                                    json={"snils": snils, "number": number})  # fmt: skip
            assert found.status_code == 200, found.text

        async def write(book_id: str, n: int) -> float:
            record = _record(book_id, n)
            body = {"record": record, "key_id": key_id,
                    "signature": _b64(key.sign(rfc8785.dumps(record)))}  # fmt: skip
            started = time.perf_counter()
            answer = await http.post(
                f"{records_url}/books/{book_id}/records", headers=worker, json=body
            )
            elapsed = time.perf_counter() - started
            assert answer.status_code == 201, answer.text
            return elapsed

        (small, _, _), (large, _, _), (writes_book, _, _) = books
        for n in range(SMALL):
            await write(small, n)
        for n in range(LARGE):
            await write(large, n)
        writes = [await write(writes_book, n) for n in range(WRITES)]
        baseline = await _baseline(WRITES)

        reads: dict[str, list[float]] = {"small": [], "large": []}
        tokens = {"small": citizens[0], "large": citizens[1]}
        for _ in range(20):  # warm up
            for name in reads:
                await http.get(
                    f"{records_url}/book", headers={"Authorization": f"Bearer {tokens[name]}"}
                )
        for _ in range(READS):
            for name in reads:
                started = time.perf_counter()
                answer = await http.get(
                    f"{records_url}/book", headers={"Authorization": f"Bearer {tokens[name]}"}
                )
                reads[name].append(time.perf_counter() - started)
                assert answer.status_code == 200
        sizes = {
            name: len((await http.get(f"{records_url}/book",
                                      headers={"Authorization": f"Bearer {tokens[name]}"})).content)
            for name in reads
        }  # fmt: skip
    p99 = {name: _percentile(samples, 0.99) for name, samples in reads.items()}
    read_ratio = p99["large"] / p99["small"]
    write_p50, baseline_p50 = statistics.median(writes), statistics.median(baseline)
    write_ratio = write_p50 / baseline_p50
    return {
        "get_book": {
            "records": {"small": SMALL, "large": LARGE},
            "requests_each": READS,
            "response_bytes": sizes,
            "p50_ms": {n: _ms(statistics.median(s)) for n, s in reads.items()},
            "p99_ms": {n: _ms(v) for n, v in p99.items()},
            "ratio_p99": round(read_ratio, 3), "target": "<= 1.3", "met": read_ratio <= 1.3,
        },
        "signed_write": {
            "writes": WRITES,
            "service_p50_ms": _ms(write_p50),
            "service_p99_ms": _ms(_percentile(writes, 0.99)),
            "baseline": "MongoDB $push of the record + Ed25519 verify, in the bench process",
            "baseline_p50_ms": _ms(baseline_p50),
            "ratio_p50": round(write_ratio, 3), "target": "<= 2.0", "met": write_ratio <= 2.0,
        },
    }  # fmt: skip
