"""``make bench``: start the local servers on free ports, run every benchmark, write reports.

Reports go to ``$EMK_VAR_DIR/bench/<name>.json`` (default ``./var/bench``).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    applications,
    audit,
    documents,
    foundation,
    gateway,
    identity,
    load,
    public_check,
    records,
)
from emk_devstack.ports import SERVICES
from emk_devstack.stack import Ports, Stack


def write(reports: Path, name: str, result: dict[str, Any]) -> None:
    report = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        **result,
    }
    path = reports / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"==> report written to {path}")


def main() -> int:
    """``python -m benchmarks [foundation] [identity] [gateway] [documents] [applications]
    [records] [public_check] [audit] [load]`` — all when none is named."""
    wanted = set(sys.argv[1:]) or {
        "foundation", "identity", "gateway", "documents", "applications", "records",
        "public_check", "audit", "load",
    }  # fmt: skip
    var_dir = Path(os.environ.get("EMK_VAR_DIR", "var")).resolve()
    reports = var_dir / "bench"
    reports.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="emk-bench-") as scratch,
        Stack(Path(scratch), Ports.free(), kafka_storage="memory") as stack,
    ):
        stack.start_infra()
        os.environ.update(stack.env)
        if "foundation" in wanted:
            print("==> foundation: outbox → Kafka → inbox against raw and direct-publish baselines")
            result = asyncio.run(foundation.run(stack.env["KAFKA_BOOTSTRAP_SERVERS"]))
            write(reports, "foundation", result)
            print(json.dumps(result["targets"], indent=2, ensure_ascii=False))

        # The benches register and log in far more often than a person; lift the per-address
        # limits.
        os.environ["IDENTITY_LOGIN_PER_IP_PER_MINUTE"] = "1000000"
        os.environ["IDENTITY_REGISTER_PER_IP_PER_HOUR"] = "1000000"
        os.environ["IDENTITY_VERIFY_PER_IP_PER_MINUTE"] = "1000000"
        stack.start_services(["identity", "notifications"])  # tokens for every bench below
        if "identity" in wanted:
            print("==> identity: logins per second; token verification vs the same endpoint open")
            result = asyncio.run(identity.run(stack))
            write(reports, "identity", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "gateway" in wanted:
            stack.start_gateway()
            print("==> gateway: an authenticated GET through Traefik vs straight to the service")
            result = asyncio.run(gateway.run(stack))
            write(reports, "gateway", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "documents" in wanted:
            stack.start_services(["documents"])
            print("==> documents: 5 MB uploads and downloads vs raw clamd + S3; peak memory")
            result = asyncio.run(documents.run(stack))
            write(reports, "documents", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "applications" in wanted:
            print("==> applications: lists amid 1,000 vs 50,000 stored; submit → SMS, 20 at once")
            result = asyncio.run(applications.run(stack))
            write(reports, "applications", result)
            print(json.dumps(applications.summary(result), indent=2, ensure_ascii=False))
        # The public check's bench checks from one address far more often than a person.
        os.environ["RECORDS_PUBLIC_CHECKS_PER_MINUTE"] = "1000000"
        if wanted & {"records", "public_check", "audit"}:
            stack.start_services(["records"])
        if "records" in wanted:
            print("==> records: GET /book with 5 vs 300 records; a signed write vs write + verify")
            result = asyncio.run(records.run(stack))
            write(reports, "records", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "public_check" in wanted:
            print("==> public check: GET /verify/{code} vs a bare endpoint's indexed lookup")
            result = asyncio.run(public_check.run(stack))
            write(reports, "public_check", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "audit" in wanted:
            print("==> audit: a journaled GET /books/{id} vs the same read without the journal")
            result = asyncio.run(audit.run(stack))
            write(reports, "audit", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if "load" in wanted:
            stack.start_services([s for s in SERVICES if not stack.is_running(s)])
            print(f"==> load: {load.CITIZENS} citizens through the whole journey at once")
            result = asyncio.run(load.run(stack))
            write(reports, "load", result)
            print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
