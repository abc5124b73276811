"""The use cases on fakes of the ports and of the store: issuing a book from an approval, the
holder's data as identity tells of it, reading one's own book and an operator's view of its
status. Lookups and grants: ``test_service_access.py``; signing keys and signed records:
``test_service_signed.py``. No server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import pytest

from emk_common import catalog
from emk_common.kafka import DeadLetter, RetryLater
from emk_common.problems import Problem

from .fakes import NOW
from .rig import Rig, citizen, exam, staff


@pytest.fixture
def rig() -> Rig:
    return Rig()


def kinds(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


# --- issuing -----------------------------------------------------------------------------------


async def test_an_approval_issues_a_book_with_the_position_applied_for(rig: Rig) -> None:
    holder = citizen()
    approved = rig.approval(holder, employer="ООО «Ромашка»", position="Повар")
    await rig.records.issue(approved)
    book = await rig.store.of_holder(holder.user_id)
    assert book is not None
    assert book.number == "77-01-000001-26"  # region 77, issuing point 01, first of 2026
    assert book.holder == rig.peers.holders[holder.user_id].holder
    assert (book.issued_at, book.issued_on) == (NOW, date(2026, 11, 29))
    [position] = book.positions
    assert (position.application_id, position.employer_name, position.position) == (
        approved.application_id,
        "ООО «Ромашка»",
        "Повар",
    )
    assert position.since == date(2026, 11, 29)
    issued, due = rig.store.events
    assert isinstance(issued, catalog.MedicalBookIssued)
    assert (issued.book_id, issued.holder_id, issued.number, issued.application_id) == (
        book.id,
        holder.user_id,
        book.number,
        approved.application_id,
    )
    assert isinstance(due, catalog.BookDueDatesChanged)
    assert book.published.status == "not_valid"  # nothing recorded yet


async def test_the_numbers_of_a_region_follow_each_other(rig: Rig) -> None:
    _, first = await rig.issued()
    _, second = await rig.issued()
    _, elsewhere = await rig.issued(region="50")
    assert [first.number, second.number, elsewhere.number] == [
        "77-01-000001-26",
        "77-01-000002-26",
        "50-01-000001-26",
    ]


async def test_a_further_approval_adds_a_position_to_the_same_book(rig: Rig) -> None:
    holder, book = await rig.issued()
    second = rig.approval(holder, employer="ООО «Лютик»", position="Кондитер")
    await rig.records.issue(second)
    assert len(rig.store.books) == 1
    after = await rig.book(book.id)
    assert [p.employer_name for p in after.positions] == ["ООО «Ромашка»", "ООО «Лютик»"]
    assert after.number == book.number
    assert rig.store.sequences == {"77:2026": 1}  # no number was taken for it
    [added] = rig.store.events_of(book.id)[2:]
    assert isinstance(added, catalog.PositionAdded)
    assert (added.application_id, added.number) == (second.application_id, book.number)


async def test_a_redelivered_approval_changes_nothing(rig: Rig) -> None:
    holder = citizen()
    first, second = rig.approval(holder), rig.approval(holder)
    for approved in (first, first, second, second, first):
        await rig.records.issue(approved)
    [book] = rig.store.books.values()
    assert [p.application_id for p in book.positions] == [
        first.application_id,
        second.application_id,
    ]
    assert book.version == 2
    assert kinds(rig.store.events) == ["MedicalBookIssued", "BookDueDatesChanged", "PositionAdded"]


async def test_a_peer_that_is_down_is_waited_for_and_nothing_is_written(rig: Rig) -> None:
    holder = citizen()
    approved = rig.approval(holder)
    rig.peers.down = True
    with pytest.raises(RetryLater):
        await rig.records.issue(approved)
    assert (rig.store.books, rig.store.events, rig.store.sequences) == ({}, [], {})
    rig.peers.down = False
    await rig.records.issue(approved)  # the retry, once the peer is back
    assert len(rig.store.books) == 1


async def test_a_peer_down_while_adding_a_position_is_waited_for(rig: Rig) -> None:
    holder, book = await rig.issued()
    approved = rig.approval(holder)
    rig.peers.down = True
    with pytest.raises(RetryLater):
        await rig.records.issue(approved)
    assert (await rig.book(book.id)).version == book.version


async def test_an_approval_nobody_knows_goes_to_the_dead_letter_topic(rig: Rig) -> None:
    unknown_application = catalog.ApplicationApproved(
        application_id="no-such-application", applicant_id="someone", number="2026-000009"
    )
    with pytest.raises(DeadLetter):
        await rig.records.issue(unknown_application)
    unknown_person = rig.approval(citizen())
    del rig.peers.holders[unknown_person.applicant_id]  # identity has no such person
    with pytest.raises(DeadLetter):
        await rig.records.issue(unknown_person)
    assert (rig.store.books, rig.store.events) == ({}, [])


async def test_a_book_issued_meanwhile_by_another_approval_is_retried_not_doubled(
    rig: Rig,
) -> None:
    holder = citizen()
    first, second = rig.approval(holder), rig.approval(holder)

    async def the_other_approval() -> None:
        await rig.records.issue(second)

    rig.store.meanwhile = the_other_approval
    with pytest.raises(RetryLater):
        await rig.records.issue(first)
    assert len(rig.store.books) == 1
    await rig.records.issue(first)  # redelivered: the position joins the book
    [book] = rig.store.books.values()
    assert {p.application_id for p in book.positions} == {
        first.application_id,
        second.application_id,
    }


# --- the holder's data -------------------------------------------------------------------------


async def test_the_holder_is_read_again_when_identity_says_it_changed(rig: Rig) -> None:
    holder, book = await rig.issued()
    await rig.records.refresh_holder(holder.user_id)  # nothing changed: nothing written
    assert (await rig.book(book.id)).version == book.version
    rig.peers.person(holder.user_id, last_name="Петров")
    await rig.records.refresh_holder(holder.user_id)
    after = await rig.book(book.id)
    assert after.holder.last_name == "Петров"
    assert after.version == book.version + 1


async def test_a_person_without_a_book_is_not_asked_about(rig: Rig) -> None:
    await rig.records.refresh_holder("nobody")
    assert rig.peers.calls == 0


async def test_a_refresh_with_identity_down_is_waited_for(rig: Rig) -> None:
    holder, book = await rig.issued()
    rig.peers.down = True
    with pytest.raises(RetryLater):
        await rig.records.refresh_holder(holder.user_id)
    assert (await rig.book(book.id)).holder == book.holder


# --- reading -----------------------------------------------------------------------------------


async def test_the_holder_reads_their_own_book_once_it_is_issued(rig: Rig) -> None:
    holder = citizen()
    with pytest.raises(Problem) as caught:
        await rig.records.own_shown(holder)
    assert (caught.value.status, caught.value.detail) == (404, "Медицинская книжка ещё не выдана.")
    with pytest.raises(Problem) as caught:
        await rig.records.own_book(holder)
    assert caught.value.status == 404
    _, book = await rig.issued(holder)
    shown, lists = await rig.records.own_shown(holder)
    assert shown.id == book.id
    assert json.loads(lists) == {
        "exams": [],
        "vaccinations": [],
        "lab_results": [],
        "certifications": [],
    }


async def test_the_holder_reads_who_opened_and_wrote_their_book(rig: Rig) -> None:
    holder, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    await rig.write(signer, book, exam(book.id))
    entries = await rig.records.own_access_log(holder)
    assert [(e.actor_id, e.action) for e in entries] == [
        (signer.who.user_id, "write"),
        (signer.who.user_id, "lookup"),
    ]  # newest first
    assert entries[0].organization_id == signer.who.organization_id


# --- an operator's view of the status -----------------------------------------------------------


async def test_an_operator_reads_the_status_with_a_reason_and_the_holder_sees_it(
    rig: Rig,
) -> None:
    holder, book = await rig.issued()
    operator = staff("operator")
    shown = await rig.records.operator_view(operator, book.id, "Проверка по обращению")
    assert (shown.id, shown.records_loaded) == (book.id, False)  # never its records
    assert rig.store.access_log.actions(book.id) == [
        (operator.user_id, "read_status", "Проверка по обращению")
    ]
    [entry] = await rig.records.own_access_log(holder)
    assert (entry.actor_role, entry.reason) == ("operator", "Проверка по обращению")


async def test_an_operator_without_a_reason_is_refused_and_nothing_is_logged(rig: Rig) -> None:
    _, book = await rig.issued()
    for reason in (None, ""):
        with pytest.raises(Problem) as caught:
            await rig.records.operator_view(staff("operator"), book.id, reason)
        assert caught.value.status == 422
        assert [(e.field, e.code) for e in caught.value.errors] == [("X-Access-Reason", "missing")]
    assert rig.store.access_log.entries == []


async def test_an_operator_asking_for_an_unknown_book_gets_a_404(rig: Rig) -> None:
    with pytest.raises(Problem) as caught:
        await rig.records.operator_view(staff("operator"), "no-such-book", "Проверка")
    assert (caught.value.status, caught.value.detail) == (404, "Медицинская книжка не найдена.")
    assert rig.store.access_log.entries == []


async def test_a_medical_worker_gets_no_status_view(rig: Rig) -> None:
    _, book = await rig.issued()
    worker = rig.worker()
    with pytest.raises(Problem) as caught:
        await rig.records.operator_view(worker.who, book.id, "Проверка")
    assert caught.value.status == 404
    assert rig.store.access_log.entries == []
