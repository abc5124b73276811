"""Access for care, not browsing: who sees a book, through which lookup, for how long — and
the log the holder reads. 404 where it is not yours, 403 where your role cannot."""

from __future__ import annotations

import pytest

from emk_testing import Caller

from .conftest import CLINIC, OTHER_CLINIC, RecordsApp, exam

BOOK = "/api/v1/records/book"
LOOKUP = "/api/v1/records/books/lookup"


async def test_the_holder_reads_their_book_and_nobody_else_reads_it_there(
    service: RecordsApp,
) -> None:
    citizen, book = await service.issue()
    async with service.client(citizen) as http:
        assert (await http.get(BOOK)).json()["id"] == book.id
    async with service.client(Caller.new()) as http:  # a citizen without a book
        refused = await http.get(BOOK)
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    for role in ("medical_worker", "operator", "employer", "admin"):
        async with service.client(Caller.new(role, CLINIC)) as http:
            assert (await http.get(BOOK)).status_code == 403, role


async def test_a_worker_sees_a_book_only_with_a_grant_of_their_organisation(
    service: RecordsApp,
) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    path = f"/api/v1/records/books/{book.id}"
    async with service.client(worker) as http:
        assert (await http.get(path)).status_code == 404  # no grant yet: it does not exist
    await service.open_book(worker, book)
    async with service.client(worker) as http:
        shown = await http.get(path)
    assert shown.status_code == 200
    assert shown.json()["number"] == book.number
    colleague = Caller.new("medical_worker", CLINIC)  # the same organisation
    stranger = Caller.new("medical_worker", OTHER_CLINIC)
    async with service.client(colleague) as http:
        assert (await http.get(path)).status_code == 200
    async with service.client(stranger) as http:
        assert (await http.get(path)).status_code == 404
    unlisted = Caller.new("medical_worker", "1027700000009")  # not in the registry
    async with service.client(unlisted) as http:
        assert (await http.get(path)).status_code == 403


async def test_a_grant_ends_after_30_days_or_when_the_holder_ends_it(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    path = f"/api/v1/records/books/{book.id}"
    async with service.client(citizen) as http:
        grants = (await http.get(f"{BOOK}/grants")).json()["items"]
    assert [(g["organization"]["id"], g["active"], g["via"]) for g in grants] == [
        (CLINIC, True, "identifiers")
    ]
    service.clock.advance(days=30, seconds=1)
    try:
        async with service.client(worker) as http:
            assert (await http.get(path)).status_code == 404
    finally:
        service.clock.advance(days=-30, seconds=-1)
    async with service.client(citizen) as http:
        ended = await http.delete(f"{BOOK}/grants/{grants[0]['id']}")
        assert ended.status_code == 204
        assert (await http.delete(f"{BOOK}/grants/unknown")).status_code == 404
        assert (await http.get(f"{BOOK}/grants")).json()["items"][0]["active"] is False
    async with service.client(worker) as http:
        assert (await http.get(path)).status_code == 404


async def test_operators_see_status_and_due_dates_with_a_reason_never_the_content(
    service: RecordsApp,
) -> None:
    _, book = await service.issue()
    operator = Caller.new("operator")
    path = f"/api/v1/records/books/{book.id}"
    async with service.client(operator) as http:
        missing = await http.get(path)
        shown = await http.get(
            path, headers={"X-Access-Reason": "%D0%BF%D1%80%D0%BE%D0%B2%D0%B5%D1%80%D0%BA%D0%B0"}
        )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "X-Access-Reason"
    assert shown.status_code == 200
    body = shown.json()
    assert set(body) == {"id", "number", "status", "status_label", "valid_until", "due"}
    assert body["status"] == "not_valid"
    for role in ("employer", "admin", "citizen"):
        async with service.client(Caller.new(role)) as http:
            assert (await http.get(path)).status_code == 403, role


async def test_a_lookup_needs_both_identifiers_of_the_same_book(service: RecordsApp) -> None:
    _, book = await service.issue()
    _, other = await service.issue()
    worker = await service.worker()
    async with service.client(worker) as http:
        crossed = await http.post(LOOKUP, json={"snils": other.holder.snils, "number": book.number})
        only_one = await http.post(LOOKUP, json={"number": book.number})
        bad_snils = await http.post(LOOKUP, json={"snils": "112-233-445 96", "number": book.number})
        bad_number = await http.post(LOOKUP, json={"snils": book.holder.snils, "number": "123"})
        found = await http.post(LOOKUP, json={"snils": book.holder.snils, "number": book.number})
    assert crossed.status_code == 404
    assert only_one.status_code == 422
    assert bad_snils.status_code == 422
    assert bad_snils.json()["errors"][0]["field"] == "snils"
    assert bad_number.json()["errors"][0]["field"] == "number"
    assert found.status_code == 200
    assert found.json()["book_id"] == book.id
    for role in ("citizen", "operator", "employer"):
        async with service.client(Caller.new(role)) as http:
            denied = await http.post(
                LOOKUP, json={"snils": book.holder.snils, "number": book.number}
            )
        assert denied.status_code == 403, role


async def test_a_visit_code_opens_the_book_once(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    async with service.client(citizen) as http:
        made = await http.post(f"{BOOK}/visit-codes")
    assert made.status_code == 201
    code = made.json()["code"]
    assert len(code) >= 10
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    worker, second = await service.worker(), await service.worker(OTHER_CLINIC)
    async with service.client(worker) as http:
        used = await http.post(LOOKUP, json={"visit_code": code.lower()})
    async with service.client(second) as http:
        again = await http.post(LOOKUP, json={"visit_code": code})
    assert used.status_code == 200
    assert used.json()["book_id"] == book.id
    assert again.status_code == 404  # single use


async def test_a_visit_code_expires_after_24_hours(service: RecordsApp) -> None:
    citizen, _ = await service.issue()
    async with service.client(citizen) as http:
        code = (await http.post(f"{BOOK}/visit-codes")).json()["code"]
    worker = await service.worker()
    service.clock.advance(hours=24, seconds=1)
    try:
        async with service.client(worker) as http:
            assert (await http.post(LOOKUP, json={"visit_code": code})).status_code == 404
    finally:
        service.clock.advance(hours=-24, seconds=-1)


async def test_guessing_visit_codes_is_stopped_by_the_limit(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    async with service.client(citizen) as http:
        code = (await http.post(f"{BOOK}/visit-codes")).json()["code"]
    guesser = await service.worker()
    limit = service.records.settings.lookup_failures_per_window
    async with service.client(guesser) as http:
        answers = [
            (await http.post(LOOKUP, json={"visit_code": f"GUESS{chr(65 + i)}AAAA"})).status_code
            for i in range(limit)
        ]
        stopped = await http.post(LOOKUP, json={"visit_code": code})  # even the right one
    assert answers == [404] * limit
    assert stopped.status_code == 429
    assert int(stopped.headers["Retry-After"]) > 0
    # The code was not spent by the refused attempt: the holder's worker can still use it.
    async with service.client(await service.worker(OTHER_CLINIC)) as http:
        assert (await http.post(LOOKUP, json={"visit_code": code})).json()["book_id"] == book.id


async def test_the_holder_reads_who_looked_read_and_wrote(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    async with service.client(worker) as http:
        await http.get(f"/api/v1/records/books/{book.id}", headers={"X-Access-Reason": "osmotr"})
        written = await http.post(
            f"/api/v1/records/books/{book.id}/records", json=worker.signed(exam(book.id))
        )
        assert written.status_code == 201, written.text
    async with service.client(Caller.new("operator")) as http:
        await http.get(f"/api/v1/records/books/{book.id}", headers={"X-Access-Reason": "audit"})
    async with service.client(citizen) as http:
        log = (await http.get(f"{BOOK}/access-log")).json()["items"]
    assert [(e["action"], e["actor_role"], e["organization_id"]) for e in log] == [
        ("read_status", "operator", None),
        ("write", "medical_worker", CLINIC),
        ("read", "medical_worker", CLINIC),
        ("lookup", "medical_worker", CLINIC),
    ]
    assert log[0]["reason"] == "audit"
    assert all(e["actor_id"] for e in log)


@pytest.mark.parametrize("path", ["/book/grants", "/book/access-log", "/book/visit-codes"])
async def test_before_the_book_is_issued_its_pages_are_404(service: RecordsApp, path: str) -> None:
    async with service.client(Caller.new()) as http:
        method = http.post if path.endswith("codes") else http.get
        assert (await method(f"/api/v1/records{path}")).status_code == 404


async def test_lookups_sent_at_once_cannot_pass_the_limit_together(service: RecordsApp) -> None:
    import asyncio

    guesser = await service.worker()
    limit = service.records.settings.lookup_failures_per_window
    async with service.client(guesser) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    LOOKUP, json={"visit_code": f"BURST{chr(65 + i % 26)}{chr(65 + i // 26)}AAA"}
                )
                for i in range(limit + 10)
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(404) == limit
    assert codes.count(429) == 10


async def test_a_second_lookup_extends_the_grant_instead_of_adding_one(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.open_book(worker, book)  # the same day: nothing changes
    service.clock.advance(days=2)
    try:
        await service.open_book(worker, book)  # later: the same grant, extended
        async with service.client(citizen) as http:
            grants = (await http.get(f"{BOOK}/grants")).json()["items"]
    finally:
        service.clock.advance(days=-2)
    assert len(grants) == 1
    assert grants[0]["expires_at"].startswith("2026-12-31")


async def test_a_lookup_racing_a_deactivation_leaves_no_grant(service: RecordsApp) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    store = service.records.store
    real = store.opened_by

    async def deactivated_meanwhile(worker_id: str, book_id: str) -> None:
        await real(worker_id, book_id)
        # StaffDeactivated handled right here: before this lookup's grant is written.
        await service.records.worker_deactivated(worker_id, service.clock())

    store.opened_by = deactivated_meanwhile  # type: ignore[method-assign]
    try:
        async with service.client(worker) as http:
            refused = await http.post(
                LOOKUP, json={"snils": book.holder.snils, "number": book.number}
            )
    finally:
        store.opened_by = real  # type: ignore[method-assign]
    assert refused.status_code == 403
    async with service.client(citizen) as http:
        grants = (await http.get(f"{BOOK}/grants")).json()["items"]
    assert [g["active"] for g in grants] == [False]
