"""Who may open a book, on fakes: a medical worker's lookup by СНИЛС and number or by the
holder's visit code opens it to their organisation (failed lookups limited per worker), the
holder ends a grant, a deactivated worker is refused and their grants end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emk_common import catalog
from emk_common.auth import Principal
from emk_common.problems import Problem

from .fakes import CLINIC, NOW, OTHER_CLINIC
from .rig import Rig, citizen, exam, staff


@pytest.fixture
def rig() -> Rig:
    return Rig()


def granted(rig: Rig, book_id: str) -> list[catalog.BookAccessGranted]:
    return [e for e in rig.store.events_of(book_id) if isinstance(e, catalog.BookAccessGranted)]


def ended(rig: Rig, book_id: str) -> list[catalog.BookAccessEnded]:
    return [e for e in rig.store.events_of(book_id) if isinstance(e, catalog.BookAccessEnded)]


# --- lookups by СНИЛС and number ----------------------------------------------------------------


async def test_a_lookup_by_snils_and_number_opens_the_book_to_the_organisation(rig: Rig) -> None:
    _, book = await rig.issued()
    worker = rig.worker()
    s = book.holder.snils
    dashed = f"{s[:3]}-{s[3:6]}-{s[6:9]} {s[9:]}"  # as printed on the card
    found = await rig.records.lookup(worker.who, snils=dashed, number=book.number, visit_code=None)
    assert found.id == book.id
    [grant] = found.grants
    assert (grant.organization.id, grant.granted_by, grant.via) == (
        CLINIC,
        worker.who.user_id,
        "identifiers",
    )
    assert grant.expires_at == NOW + timedelta(days=30)
    [event] = granted(rig, book.id)
    assert (event.grant_id, event.organization_id, event.via, event.expires_at) == (
        grant.id,
        CLINIC,
        "identifiers",
        grant.expires_at,
    )
    assert rig.store.access_log.actions(book.id) == [
        (worker.who.user_id, "lookup", "Поиск книжки (identifiers)")
    ]
    assert rig.store.opened[worker.who.user_id] == [book.id]
    readable, organization = await rig.records.granted_book(worker.who, book.id)
    assert (readable.id, organization.id) == (book.id, CLINIC)


@pytest.mark.parametrize("wrong", ["snils", "number"])
async def test_a_lookup_that_does_not_match_finds_nothing_and_opens_nothing(
    rig: Rig, wrong: str
) -> None:
    _, book = await rig.issued()
    _, other = await rig.issued()
    worker = rig.worker()
    snils = other.holder.snils if wrong == "snils" else book.holder.snils
    number = other.number if wrong == "number" else book.number
    with pytest.raises(Problem) as caught:
        await rig.records.lookup(worker.who, snils=snils, number=number, visit_code=None)
    assert caught.value.status == 404
    assert caught.value.detail == (
        "Медицинская книжка не найдена: проверьте СНИЛС и номер книжки или код визита."
    )
    assert (await rig.book(book.id)).grants == ()
    assert granted(rig, book.id) == granted(rig, other.id) == []
    assert rig.store.access_log.entries == []
    assert worker.who.user_id not in rig.store.opened


async def test_ten_failed_lookups_and_the_worker_waits_out_the_window(rig: Rig) -> None:
    _, book = await rig.issued()
    worker = rig.worker()
    limit = rig.settings.lookup_failures_per_window
    assert limit == 10

    async def fail() -> None:
        with pytest.raises(Problem) as caught:
            await rig.records.lookup(worker.who, snils="000", number=book.number, visit_code=None)
        assert caught.value.status == 404

    for _ in range(limit - 1):
        await fail()
    for _ in range(3):  # lookups that find their book are not failures
        await rig.open_book(worker, book)
    await fail()  # the tenth failure
    with pytest.raises(Problem) as caught:  # even a lookup that would find the book
        await rig.open_book(worker, book)
    assert caught.value.status == 429
    assert caught.value.code == "rate-limited"
    wait = int(caught.value.headers["Retry-After"])
    assert 1 <= wait <= 3600
    other = rig.worker()  # counted per worker
    await rig.open_book(other, book)
    rig.clock.advance(seconds=wait)
    await rig.open_book(worker, book)


async def test_a_repeated_lookup_within_a_day_changes_nothing_and_later_extends_the_grant(
    rig: Rig,
) -> None:
    _, book = await rig.issued()
    worker, colleague = rig.worker(), rig.worker()
    await rig.open_book(worker, book)
    rig.clock.advance(hours=3)
    await rig.open_book(colleague, book)  # the same organisation
    assert len(granted(rig, book.id)) == 1
    rig.clock.advance(days=2)
    after = await rig.open_book(worker, book)
    [grant] = after.grants  # the same grant, extended
    assert grant.expires_at == rig.clock() + timedelta(days=30)
    first, again = granted(rig, book.id)
    assert first.grant_id == again.grant_id == grant.id


async def test_another_organisation_gets_its_own_grant(rig: Rig) -> None:
    _, book = await rig.issued()
    await rig.open_book(rig.worker(CLINIC), book)
    after = await rig.open_book(rig.worker(OTHER_CLINIC), book)
    assert [g.organization.id for g in after.grants] == [CLINIC, OTHER_CLINIC]


async def test_a_grant_ends_when_it_expires(rig: Rig) -> None:
    _, book = await rig.issued()
    worker = rig.worker()
    await rig.open_book(worker, book)
    rig.clock.advance(days=30)
    with pytest.raises(Problem) as caught:
        await rig.records.granted_book(worker.who, book.id)
    assert caught.value.status == 404
    with pytest.raises(Problem) as caught:
        await rig.records.granted_shown(worker.who, book.id)
    assert caught.value.status == 404


async def test_a_book_not_opened_to_the_organisation_is_not_found(rig: Rig) -> None:
    _, book = await rig.issued()
    await rig.open_book(rig.worker(OTHER_CLINIC), book)
    worker = rig.worker(CLINIC)
    for read in (rig.records.granted_book, rig.records.granted_shown):
        with pytest.raises(Problem) as caught:
            await read(worker.who, book.id)
        assert (caught.value.status, caught.value.detail) == (404, "Медицинская книжка не найдена.")


@pytest.mark.parametrize(
    ("who", "detail"),
    [
        (citizen("c-1"), "Действие доступно только медицинским работникам."),
        (staff("operator"), "Действие доступно только медицинским работникам."),
        (
            staff("medical_worker", "1000000000000"),
            "Организация сотрудника не найдена в реестре медицинских организаций.",
        ),
        (
            staff("medical_worker"),
            "Организация сотрудника не найдена в реестре медицинских организаций.",
        ),
    ],
)
async def test_only_a_worker_of_a_registered_organisation_looks_up(
    rig: Rig, who: Principal, detail: str
) -> None:
    _, book = await rig.issued()
    with pytest.raises(Problem) as caught:
        await rig.records.lookup(who, snils=book.holder.snils, number=book.number, visit_code=None)
    assert (caught.value.status, caught.value.detail) == (403, detail)
    assert (await rig.book(book.id)).grants == ()
    assert rig.store.limits.counts == {}  # a refusal is not a failed lookup


# --- visit codes ---------------------------------------------------------------------------------


async def test_a_visit_code_opens_the_book_once(rig: Rig) -> None:
    holder, book = await rig.issued()
    issued = await rig.records.visit_code(holder)
    assert len(issued.code) == rig.settings.visit_code_length == 10
    assert set(issued.code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert issued.expires_at == NOW + timedelta(hours=24)
    worker = rig.worker()
    found = await rig.records.lookup(
        worker.who, snils=None, number=None, visit_code=issued.code.lower()
    )
    assert found.id == book.id
    assert [g.via for g in found.grants] == ["visit_code"]
    assert rig.store.access_log.actions(book.id) == [
        (worker.who.user_id, "lookup", "Поиск книжки (visit_code)")
    ]
    with pytest.raises(Problem) as caught:  # single use
        await rig.records.lookup(rig.worker(OTHER_CLINIC).who, snils=None, number=None,
                                 visit_code=issued.code)  # fmt: skip
    assert caught.value.status == 404
    assert [g.organization.id for g in (await rig.book(book.id)).grants] == [CLINIC]


async def test_an_expired_visit_code_opens_nothing(rig: Rig) -> None:
    holder, book = await rig.issued()
    issued = await rig.records.visit_code(holder)
    rig.clock.advance(hours=24)
    with pytest.raises(Problem) as caught:
        await rig.records.lookup(rig.worker().who, snils=None, number=None, visit_code=issued.code)
    assert caught.value.status == 404
    assert (await rig.book(book.id)).grants == ()


async def test_no_visit_code_before_the_book_is_issued(rig: Rig) -> None:
    with pytest.raises(Problem) as caught:
        await rig.records.visit_code(citizen())
    assert caught.value.status == 404
    assert rig.store.visit_codes == {}


# --- the holder ends a grant ---------------------------------------------------------------------


async def test_the_holder_ends_a_grant_and_the_organisation_can_no_longer_write(rig: Rig) -> None:
    holder, book = await rig.issued()
    signer = await rig.signer()
    [grant] = (await rig.open_book(signer, book)).grants
    await rig.records.end_grant(holder, grant.id)
    [event] = ended(rig, book.id)
    assert (event.grant_id, event.organization_id, event.ended_by) == (
        grant.id,
        CLINIC,
        holder.user_id,
    )
    [after] = (await rig.book(book.id)).grants
    assert (after.ended_at, after.ended_by) == (NOW, holder.user_id)
    with pytest.raises(Problem) as caught:
        await rig.write(signer, book, exam(book.id))
    assert caught.value.status == 404
    await rig.records.end_grant(holder, grant.id)  # ended already: nothing more happens
    assert len(ended(rig, book.id)) == 1


async def test_a_grant_that_is_not_the_holders_is_not_found(rig: Rig) -> None:
    holder, _ = await rig.issued()
    _, other_book = await rig.issued()
    [grant] = (await rig.open_book(rig.worker(), other_book)).grants
    for grant_id in (grant.id, "no-such-grant"):
        with pytest.raises(Problem) as caught:
            await rig.records.end_grant(holder, grant_id)
        assert (caught.value.status, caught.value.detail) == (404, "Доступ не найден.")
    assert ended(rig, other_book.id) == []


# --- deactivated workers --------------------------------------------------------------------------


async def test_a_deactivated_worker_loses_keys_and_grants_and_is_refused(rig: Rig) -> None:
    _, book = await rig.issued()
    _, other_book = await rig.issued()
    signer = await rig.signer()
    colleague = rig.worker()
    await rig.open_book(signer, book)
    await rig.open_book(signer, other_book)
    await rig.write(signer, book, exam(book.id))
    await rig.records.worker_deactivated(signer.who.user_id, rig.clock())

    assert rig.store.keys[signer.key_id].state == "revoked"  # what it signed stays verifiable
    assert len((await rig.book(book.id)).records) == 1
    for opened in (book, other_book):
        [event] = ended(rig, opened.id)
        assert event.ended_by == "deactivation"
        assert not (await rig.book(opened.id)).open_to(CLINIC, rig.clock())
    for refused in (
        rig.open_book(signer, book),
        rig.records.granted_book(signer.who, book.id),
        rig.records.register_key(signer.who, rig.worker().public_key),
        rig.write(signer, book, exam(book.id)),
    ):
        with pytest.raises(Problem) as caught:
            await refused
        assert (caught.value.status, caught.value.detail) == (
            403,
            "Учётная запись сотрудника отключена.",
        )
    await rig.open_book(colleague, book)  # the organisation itself goes on
    await rig.records.worker_deactivated(signer.who.user_id, rig.clock())  # redelivered
    assert len(ended(rig, book.id)) == 1


async def test_a_lookup_racing_the_deactivation_leaves_no_grant(rig: Rig) -> None:
    _, book = await rig.issued()
    worker = rig.worker()

    async def deactivated_meanwhile() -> None:
        await rig.records.worker_deactivated(worker.who.user_id, rig.clock())

    rig.store.meanwhile = deactivated_meanwhile  # after the lookup noted the book
    with pytest.raises(Problem) as caught:
        await rig.open_book(worker, book)
    assert caught.value.status == 403
    [grant] = (await rig.book(book.id)).grants
    assert grant.ended_by == "deactivation"
    assert not grant.active(rig.clock())
    assert [type(e).__name__ for e in rig.store.events_of(book.id)][-2:] == [
        "BookAccessGranted",
        "BookAccessEnded",
    ]
