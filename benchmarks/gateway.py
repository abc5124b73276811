"""The gateway's cost: the same authenticated ``GET`` (a citizen's notification preferences:
token verification and one MongoDB read) through Traefik and straight to the service,
interleaved round by round in the same run. Target: through the gateway ≥ 85 % of the direct
throughput, and its p50 at most 1 ms more.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.documents import _token as citizen_token
from benchmarks.public_check import _load
from emk_devstack.stack import Stack

CONCURRENCY = 8
REQUESTS = 600
ROUNDS = 3
PATH = "/api/v1/notifications/preferences"


def _ms(samples: list[float], q: float) -> float:
    return round(sorted(samples)[int(q * (len(samples) - 1))] * 1000, 2)


async def run(stack: Stack) -> dict[str, Any]:
    token = await citizen_token(stack)
    direct_url = f"{stack.service_url('notifications')}{PATH}"
    gateway_url = f"{stack.gateway_url}{PATH}"
    rates: dict[str, list[float]] = {"direct": [], "gateway": []}
    latencies: dict[str, list[float]] = {"direct": [], "gateway": []}
    for _ in range(ROUNDS):  # interleaved, so drift hits both alike
        for name, url in (("direct", direct_url), ("gateway", gateway_url)):
            auth = {"Authorization": f"Bearer {token}"}
            rate, samples = await _load(url, auth, concurrency=CONCURRENCY, requests=REQUESTS)
            rates[name].append(rate)
            latencies[name] += samples
    direct, through = statistics.median(rates["direct"]), statistics.median(rates["gateway"])
    ratio = through / direct
    p50_added = _ms(latencies["gateway"], 0.5) - _ms(latencies["direct"], 0.5)
    return {
        "request": f"GET {PATH} with a citizen's token",
        "direct_per_s": round(direct, 1),
        "gateway_per_s": round(through, 1),
        "direct_p50_ms": _ms(latencies["direct"], 0.5),
        "gateway_p50_ms": _ms(latencies["gateway"], 0.5),
        "direct_p99_ms": _ms(latencies["direct"], 0.99),
        "gateway_p99_ms": _ms(latencies["gateway"], 0.99),
        "rounds": {name: [round(r) for r in values] for name, values in rates.items()},
        "requests_per_round": REQUESTS,
        "concurrency": CONCURRENCY,
        "ratio": round(ratio, 3),
        "p50_added_ms": round(p50_added, 2),
        "target": "ratio >= 0.85 and p50_added_ms <= 1",
        "met": ratio >= 0.85 and p50_added <= 1.0,
    }
