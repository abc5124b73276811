"""The citizen's "who saw my data" at the end of the demo's journey: the operator's reads of
the application (with the reason the operator gave, asked of applications), the medical
worker's record in the book, and the check made with the share code — across services, from
identity alone."""

from __future__ import annotations

from typing import Any


def test_the_citizen_sees_the_operator_the_worker_and_the_share_check(
    demo: tuple[dict[str, Any], list[str]],
) -> None:
    record, said = demo
    items: list[dict[str, Any]] = record["access_log"]
    ats = [i["at"] for i in items]
    assert ats == sorted(ats, reverse=True)  # newest first
    operator = [
        i for i in items if i["service"] == "applications" and i["actor"]["role"] == "operator"
    ]
    assert operator, items
    assert all(i["resource"] == "application" for i in operator)
    assert any(i["reason"] == "Проверка" for i in operator)  # the X-Access-Reason sent
    assert all(i["actor"]["name"] for i in operator)  # staff are named
    worker = [i for i in items if i["actor"]["role"] == "medical_worker"]
    assert {i["service"] for i in worker} == {"records"}
    assert any(i["reason_unavailable"] is False and i["reason"] for i in worker)
    assert any(i["actor"]["role"] == "share_code" for i in items)
    # The citizen's own reads are not someone else's access.
    assert all(i["actor"]["role"] != "citizen" for i in items)
    assert any(line.startswith("19. Who saw my data") for line in said)
