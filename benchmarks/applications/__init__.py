"""Applications benchmarks (issue 5), against real processes on the local stack.

**Lists amid many stored** (``lists.py``). The operators' queue and «Мои обращения» must
stay an index range with few candidates however many applications are stored (the local
MongoDB sorts in memory). The same 500 open applications (submitted, in review, awaiting
an answer to a clarification; due dates from two weeks ago to next week, so part of
them overdue) and one citizen's six are stored amid 1,000 and amid 50,000 applications:
the rest approved, rejected, issued or drafts of some 16,000 other applicants. They are
written straight into MongoDB exactly as the service stores them (``seeding.py``: built
by the domain's own steps, written the way ``store.apply`` writes a step, counters set by
``store.recount()``). Each size has its own database and its own real ``python -m
applications`` process (uvicorn, its scheduler and outbox relay running as deployed,
verifying the real identity service's tokens), measured over HTTP as the identity and
documents benches measure their services; the two are measured interleaved, request by
request, so a slowdown of the shared machine lands on both alike. Target: p99 at 50,000
≤ 1.5 × p99 at 1,000, per request. The query each request runs, built by the store's own
code, is explained (``plans.py``): an IXSCAN and no COLLSCAN, or the bench fails.

**Submit → SMS** (``sms.py``). On the full platform (the five services as processes),
20 ready citizens (contacts confirmed, 2FA login, personal data, two documents uploaded)
each prepare a complete draft, then all 20 submit at once; the latency runs from sending
``POST /{id}/submit`` to the SMS line naming that application's number in the spool (its
``at``, written by the notifications service as it sends), split at the moment the
event reached Kafka. Baseline in the same run: what the path cannot avoid — one MongoDB
write and one Kafka produce → consume round trip, 20 at once.
"""

from __future__ import annotations

from typing import Any

from benchmarks.applications.lists import lists
from benchmarks.applications.sms import submit_to_sms
from emk_devstack.stack import Stack

Doc = dict[str, Any]


async def run(stack: Stack) -> Doc:
    return {"lists": await lists(stack), "submit_to_sms": await submit_to_sms(stack)}


def summary(result: Doc) -> Doc:
    """What the console shows; the report has the plans and every phase."""
    found: Doc = {}
    if "lists" in result:
        found["lists"] = {"all_met": result["lists"]["all_met"], **result["lists"]["ratios"]}
    if "submit_to_sms" in result:
        sms = result["submit_to_sms"]
        found["submit_to_sms"] = {
            key: sms[key]
            for key in ("submit_to_sms", "stages", "baseline_write_plus_kafka_round_trip",
                        "ratio_p50_to_baseline", "ratio_p99_to_baseline")
        }  # fmt: skip
    return found
