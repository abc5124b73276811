"""The gateway's cost: the same authenticated ``GET`` (a citizen's notification preferences:
token verification and one MongoDB read) through Traefik and straight to the service,
interleaved round by round in the same run. Target: through the gateway ≥ 85 % of the direct
throughput, and its p50 at most 1 ms more.

Throughput is measured with 8 requests at a time; the hop's own latency one request at a time.
Under load on two cores shared by the client, Traefik and the service, a request's p50 also
holds its wait behind Traefik's share of the CPU — the throughput ratio already counts that
cost (p50 at saturation ≈ direct p50 / ratio), so it is reported beside, not as the hop's.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.documents import _token as citizen_token
from benchmarks.public_check import _load
from emk_devstack.stack import Stack

CONCURRENCY = 8
REQUESTS = 600
SEQUENTIAL_REQUESTS = 300  # per round and path, one at a time: the hop's latency
ROUNDS = 3
PATH = "/api/v1/notifications/preferences"


def _ms(samples: list[float], q: float) -> float:
    return round(sorted(samples)[int(q * (len(samples) - 1))] * 1000, 2)


async def run(stack: Stack) -> dict[str, Any]:
    token = await citizen_token(stack)
    direct_url = f"{stack.service_url('notifications')}{PATH}"
    gateway_url = f"{stack.gateway_url}{PATH}"
    rates: dict[str, list[float]] = {"direct": [], "gateway": []}
    loaded: dict[str, list[float]] = {"direct": [], "gateway": []}
    alone: dict[str, list[float]] = {"direct": [], "gateway": []}
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(ROUNDS):  # interleaved, so drift hits both alike
        for name, url in (("direct", direct_url), ("gateway", gateway_url)):
            rate, samples = await _load(url, auth, concurrency=CONCURRENCY, requests=REQUESTS)
            rates[name].append(rate)
            loaded[name] += samples
            _, samples = await _load(url, auth, concurrency=1, requests=SEQUENTIAL_REQUESTS)
            alone[name] += samples
    direct, through = statistics.median(rates["direct"]), statistics.median(rates["gateway"])
    ratio = through / direct
    p50_added = _ms(alone["gateway"], 0.5) - _ms(alone["direct"], 0.5)
    return {
        "request": f"GET {PATH} with a citizen's token",
        "direct_per_s": round(direct, 1),
        "gateway_per_s": round(through, 1),
        "one_at_a_time": {
            "direct_p50_ms": _ms(alone["direct"], 0.5),
            "gateway_p50_ms": _ms(alone["gateway"], 0.5),
            "direct_p99_ms": _ms(alone["direct"], 0.99),
            "gateway_p99_ms": _ms(alone["gateway"], 0.99),
            "requests_per_round": SEQUENTIAL_REQUESTS,
        },
        "under_load": {
            "direct_p50_ms": _ms(loaded["direct"], 0.5),
            "gateway_p50_ms": _ms(loaded["gateway"], 0.5),
            "direct_p99_ms": _ms(loaded["direct"], 0.99),
            "gateway_p99_ms": _ms(loaded["gateway"], 0.99),
            "concurrency": CONCURRENCY,
            "requests_per_round": REQUESTS,
        },
        "rounds": {name: [round(r) for r in values] for name, values in rates.items()},
        "ratio": round(ratio, 3),
        "p50_added_ms": round(p50_added, 2),
        "target": "ratio >= 0.85 and p50_added_ms <= 1",
        "met": ratio >= 0.85 and p50_added <= 1.0,
    }
