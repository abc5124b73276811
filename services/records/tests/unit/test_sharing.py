"""Share codes and the public check on fakes: what a code shows, when it stops, what is
counted and told — and the rules of the share itself (``domain/shares.py``)."""

from __future__ import annotations

import pytest

from emk_common import catalog
from emk_common.auth import Principal
from emk_common.problems import Problem
from records.domain import shares as domain
from records.domain.book import Book
from records.domain.shares import CODE_ALPHABET, CODE_LENGTH

from .rig import Rig, certification, citizen, exam, staff

ROMASHKA = "7734567893"


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def valid_book(rig: Rig) -> tuple[Principal, Book]:
    holder, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    await rig.write(signer, book, exam(book.id))
    await rig.write(signer, book, certification(book.id))
    return holder, book


def test_codes_are_long_random_and_of_one_alphabet() -> None:
    codes = {domain.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert CODE_LENGTH * 5 >= 128  # bits
    assert domain.looks_like_code(next(iter(codes)))
    assert not domain.looks_like_code("86-01-027970-25")
    assert not domain.looks_like_code("a" * CODE_LENGTH)


async def test_a_share_shows_the_masked_holder_and_the_dates_of_a_valid_book(rig: Rig) -> None:
    holder, book = await valid_book(rig)
    made = await rig.records.share(holder, employer_inn=None, days=30)
    view = await rig.records.check(made.code)
    assert view is not None
    assert view.valid is True
    assert view.status_label == "Действует"
    assert view.holder == "Иванов И. И."
    assert view.book_number == book.number
    assert view.valid_until is not None
    assert view.next_due == view.valid_until
    assert view.checked_at == rig.clock()


async def test_a_code_stops_when_it_expires_or_is_revoked(rig: Rig) -> None:
    holder, _ = await valid_book(rig)
    lasting = await rig.records.share(holder, employer_inn=None, days=2)
    revoked = await rig.records.share(holder, employer_inn=None, days=30)
    await rig.records.unshare(holder, revoked.code)
    assert await rig.records.check(revoked.code) is None
    assert await rig.records.check(lasting.code) is not None
    rig.clock.advance(days=2)
    assert await rig.records.check(lasting.code) is None
    assert await rig.records.check("Z" * CODE_LENGTH) is None
    assert await rig.records.check("") is None


async def test_checks_are_counted_logged_and_told_once_a_day(rig: Rig) -> None:
    holder, _ = await valid_book(rig)
    made = await rig.records.share(holder, employer_inn=None, days=30)
    for _ in range(3):
        await rig.records.check(made.code)
    rig.clock.advance(days=1)
    await rig.records.check(made.code)
    [(listed, checks)] = await rig.records.shares(holder)
    assert listed.code == made.code
    assert checks.count == 4
    assert checks.last == rig.clock()
    told = [e for e in rig.store.events if isinstance(e, catalog.ShareChecked)]
    assert len(told) == 2  # the first check of each day
    assert len(checks.recent) == 4
    assert checks.recent[-1] == rig.clock()
    assert checks.recent[0] == checks.recent[2]  # the clock stood still


async def test_only_the_holder_revokes_and_a_stranger_learns_nothing(rig: Rig) -> None:
    holder, _ = await valid_book(rig)
    other, _ = await rig.issued()
    made = await rig.records.share(holder, employer_inn=None, days=30)
    with pytest.raises(Problem) as theirs:
        await rig.records.unshare(other, made.code)
    with pytest.raises(Problem) as unknown:
        await rig.records.unshare(other, "Q" * CODE_LENGTH)
    assert theirs.value.status == unknown.value.status == 404
    assert theirs.value.detail == unknown.value.detail
    assert await rig.records.check(made.code) is not None


async def test_a_holder_has_at_most_twenty_live_codes(rig: Rig) -> None:
    holder, _ = await valid_book(rig)
    for _ in range(20):
        await rig.records.share(holder, employer_inn=None, days=1)
    with pytest.raises(Problem) as refused:
        await rig.records.share(holder, employer_inn=None, days=1)
    assert refused.value.status == 409
    rig.clock.advance(days=1)  # they expired: room again
    await rig.records.share(holder, employer_inn=None, days=1)


async def test_the_employer_lists_the_live_shares_naming_its_inn(rig: Rig) -> None:
    holder, book = await valid_book(rig)
    made = await rig.records.share(holder, employer_inn=ROMASHKA, days=30)
    await rig.records.share(holder, employer_inn=ROMASHKA, days=30)
    hr = staff("employer", ROMASHKA)
    [item] = await rig.records.employer_books(hr, due_within_days=None)
    assert item.book_id == book.id
    assert item.holder == "Иванов И. И."
    assert item.position == "Повар"
    assert item.view.valid is True
    assert await rig.records.employer_books(hr, due_within_days=30) == []
    assert (
        await rig.records.employer_books(staff("employer", "7707083893"), due_within_days=None)
        == []
    )
    with pytest.raises(Problem) as refused:
        await rig.records.employer_books(staff("employer", None), due_within_days=None)
    assert refused.value.status == 403
    for share, _ in await rig.records.shares(holder):
        await rig.records.unshare(holder, share.code)
    assert made.code not in [s.code for s in await rig.store.shared_with(ROMASHKA, rig.clock())]
    assert await rig.records.employer_books(hr, due_within_days=None) == []


async def test_a_book_not_valid_is_due_at_once_for_the_employer(rig: Rig) -> None:
    holder, _ = await rig.issued()
    await rig.records.share(holder, employer_inn=ROMASHKA, days=30)
    [item] = await rig.records.employer_books(staff("employer", ROMASHKA), due_within_days=0)
    assert item.view.valid is False
    assert item.view.valid_until is None
    assert item.view.next_due is None


async def test_the_holder_without_a_book_has_nothing_to_share() -> None:
    rig = Rig()
    with pytest.raises(Problem) as refused:
        await rig.records.share(citizen(), employer_inn=None, days=3)
    assert refused.value.status == 404
    with pytest.raises(ValueError, match="1 to 365"):
        domain.share(
            (await rig.issued())[1], share_id="s", code=domain.new_code(), now=rig.clock(),
            days=366, employer_inn=None,
        )  # fmt: skip
