"""Documents benchmark, against the real documents process, clamd, S3 and identity's tokens:

- 5 MB uploads through the service vs the unavoidable work done raw: a clamd scan plus a
  raw ``minio`` put of the same bytes (target ≥ 80% of that baseline's throughput);
- 5 MB downloads through the service vs a raw ``minio`` get (target ≥ 70%);
- the service's peak memory (VmHWM) with 20 concurrent 5 MB uploads (target < 400 MB).
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import urllib3
from minio import Minio

from benchmarks.identity import register_citizen, sms_code
from emk_devstack.stack import Stack

SIZE = 5 * 1024 * 1024 - 64 * 1024  # a scan just under the limit
ROUNDS = 20
CONCURRENT = 20


def pdf(size: int) -> bytes:
    """A PDF whose page stream is random bytes: nothing compresses, the scanner reads it all."""
    head = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    pages = b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    page = (
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents 4 0 R >>\n"
        b"endobj\n"
    )
    tail_len = 200
    body_len = size - len(head) - len(pages) - len(page) - tail_len
    stream = os.urandom(max(0, body_len - 60))
    content = (
        b"4 0 obj\n<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream\nendobj\n"
    )
    body = head + pages + page + content
    xref_at = len(body)
    offsets = [body.index(b"%d 0 obj" % n) for n in (1, 2, 3, 4)]
    xref = b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return body + xref + trailer


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _token(stack: Stack) -> str:
    async with httpx.AsyncClient(base_url=stack.service_url("identity"), timeout=30) as http:
        person = await register_citizen(http)
        seen = 0
        if stack.sms_spool.exists():
            seen = sum(1 for x in stack.sms_spool.read_text().splitlines() if person["phone"] in x)
        await sms_code(stack.sms_spool, person["phone"], seen)  # the contact code
        challenge = (
            await http.post(
                "/api/v1/identity/login",
                json={"login": person["email"], "password": person["password"]},
            )
        ).json()
        code = await sms_code(stack.sms_spool, person["phone"], seen + 1)
        tokens = (
            await http.post(
                "/api/v1/identity/login/verify",
                json={"challenge_id": challenge["challenge_id"], "code": code},
            )
        ).json()
        return str(tokens["access_token"])


async def _raw_baseline(stack: Stack, data: bytes) -> tuple[list[float], list[float]]:
    from documents.adapters.scanner import Clamd

    env = stack.env
    scanner = Clamd("127.0.0.1", int(env["CLAMD_PORT"]))
    s3 = Minio(env["S3_ENDPOINT"].split("//", 1)[1], access_key=env["S3_ACCESS_KEY"],
               secret_key=env["S3_SECRET_KEY"], secure=False)  # fmt: skip
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(s3.make_bucket, bucket)
    puts, gets = [], []
    for n in range(ROUNDS):
        started = time.perf_counter()
        assert await scanner.scan(data) is None
        await asyncio.to_thread(s3.put_object, bucket, f"o{n}", io.BytesIO(data), len(data))
        puts.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = await asyncio.to_thread(s3.get_object, bucket, f"o{n}")
        await asyncio.to_thread(response.read)
        response.close()
        gets.append(time.perf_counter() - started)
    return puts, gets


async def run(stack: Stack) -> dict[str, Any]:
    data = pdf(SIZE)
    token = await _token(stack)
    headers = {"Authorization": f"Bearer {token}"}
    raw_puts, raw_gets = await _raw_baseline(stack, data)
    url = f"{stack.service_url('documents')}/api/v1/documents"
    # The same HTTP client library as the baseline (minio speaks S3 through urllib3), so the
    # comparison measures the service, not two clients of different speed.
    pool = urllib3.PoolManager(maxsize=CONCURRENT, timeout=urllib3.Timeout(total=120))
    body, content_type = urllib3.encode_multipart_formdata(
        {"file": ("scan.pdf", data, "application/pdf"), "kind": "passport"}
    )
    upload_headers = {**headers, "Content-Type": content_type}

    def upload() -> str:
        answer = pool.request("POST", url, body=body, headers=upload_headers)
        assert answer.status == 201, answer.data[:300]
        return str(answer.json()["id"])

    def download(document_id: str) -> bytes:
        answer = pool.request("GET", f"{url}/{document_id}/content", headers=headers)
        assert answer.status == 200
        return bytes(answer.data)

    uploads, downloads = [], []
    await asyncio.to_thread(upload)  # warm up
    for _ in range(ROUNDS):
        started = time.perf_counter()
        document_id = await asyncio.to_thread(upload)
        uploads.append(time.perf_counter() - started)
        started = time.perf_counter()
        received = await asyncio.to_thread(download, document_id)
        downloads.append(time.perf_counter() - started)
        assert received == data
    pid = next(c.pid for c in stack.children if c.name == "documents")
    before = _peak_rss_mb(pid)
    await asyncio.gather(*(asyncio.to_thread(upload) for _ in range(CONCURRENT)))
    peak = _peak_rss_mb(pid)

    mb = len(data) / 1024 / 1024

    def rate(samples: list[float]) -> float:
        return round(mb / statistics.median(samples), 1)

    upload_ratio = statistics.median(raw_puts) / statistics.median(uploads)
    download_ratio = statistics.median(raw_gets) / statistics.median(downloads)
    return {
        "file_mb": round(mb, 2),
        "rounds": ROUNDS,
        "upload": {
            "service_mb_per_s": rate(uploads),
            "baseline_scan_plus_raw_put_mb_per_s": rate(raw_puts),
            "ratio": round(upload_ratio, 3), "target": ">= 0.80", "met": upload_ratio >= 0.8,
        },
        "download": {
            "service_mb_per_s": rate(downloads),
            "baseline_raw_get_mb_per_s": rate(raw_gets),
            "ratio": round(download_ratio, 3), "target": ">= 0.70", "met": download_ratio >= 0.7,
        },
        "memory": {
            "concurrent_uploads": CONCURRENT,
            "peak_rss_mb_before": round(before, 1),
            "peak_rss_mb": round(peak, 1),
            "target": "< 400", "met": peak < 400,
        },
    }  # fmt: skip
