"""The book in the world: share codes, the public check (JSON and page), the employer's list.

A code shows only what DOMAIN.md allows; a code that is unknown, expired or revoked is one and
the same answer; a code is a secret that reaches no log.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import logging
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from emk_common import catalog
from emk_testing import Caller, TopicTap

from .conftest import RecordsApp, certification, exam

SHARES = "/api/v1/records/book/shares"
VERIFY = "/api/v1/records/verify"
EMPLOYER_BOOKS = "/api/v1/records/employer/books"
ROMASHKA = "7734567893"  # the employer of the fake applications' employment
OTHER_INN = "7707083893"
_ADDRESSES = itertools.count(1)


def new_ip() -> str:
    """An address no other test has checked from (the public check counts per address)."""
    return f"2001:db8::5:{next(_ADDRESSES):x}"


async def valid_book(service: RecordsApp) -> tuple[Caller, Any]:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id), certification(book.id))
    return citizen, book


async def shared(service: RecordsApp, citizen: Caller, **body: Any) -> dict[str, Any]:
    async with service.client(citizen) as http:
        made = await http.post(SHARES, json={"expires_in_days": 30, **body})
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def check(service: RecordsApp, code: str, *, page: bool = False) -> Any:
    async with service.client(ip=new_ip()) as http:
        return await http.get(f"/check/{code}" if page else f"{VERIFY}/{code}")


async def test_a_code_shows_that_the_book_is_valid_and_nothing_medical(
    service: RecordsApp,
) -> None:
    citizen, book = await valid_book(service)
    made = await shared(service, citizen)
    code = made["code"]
    assert len(code) == 26
    assert code.isupper()
    assert made["url"] == f"{service.records.settings.public_base_url}/check/{code}"
    # The QR, read back by a real decoder, is the public check's URL.
    png = base64.b64decode(made["qr_png"])
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [d.text for d in decoded] == [made["url"]]

    checked = await check(service, code)
    assert checked.status_code == 200
    shown = checked.json()
    assert set(shown) == {
        "valid", "status_label", "holder", "book_number", "valid_until", "next_due", "checked_at",
    }  # fmt: skip
    assert shown["valid"] is True
    assert shown["status_label"] == "Действует"
    assert shown["holder"] == "Иванов И. И."
    assert shown["book_number"] == book.number
    assert shown["valid_until"] == "2027-11-20"  # the periodic exam's year
    assert shown["next_due"] == "2027-11-20"
    for secret in (book.holder.snils, "1990-05-17", "fit", "терапевт", "food"):
        assert secret not in checked.text
    assert checked.headers["cache-control"] == "no-store"
    assert checked.headers["referrer-policy"] == "no-referrer"
    assert checked.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in checked.headers["content-security-policy"]


async def test_the_page_for_people_is_russian_html_without_script(service: RecordsApp) -> None:
    citizen, book = await valid_book(service)
    code = (await shared(service, citizen))["code"]
    page = await check(service, code, page=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="ru">' in page.text
    assert "Действует" in page.text
    assert "Иванов И. И." in page.text
    assert book.number in page.text
    assert "<script" not in page.text.lower()
    assert "script-src" not in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_a_book_that_is_not_valid_says_so_and_never_why(service: RecordsApp) -> None:
    citizen, _ = await service.issue()  # no exam, no attestation yet
    code = (await shared(service, citizen))["code"]
    shown = (await check(service, code)).json()
    assert shown["valid"] is False
    assert shown["status_label"] == "Не действует"
    assert shown["valid_until"] is None
    assert shown["next_due"] is None


async def test_what_the_book_becomes_after_sharing_is_what_a_check_shows(
    service: RecordsApp,
) -> None:
    """A check reads the share's public card, not the book: every change of what it shows —
    a new exam, a «Не годен» conclusion, a new name — reaches the card in the book's write."""
    citizen, book = await service.issue()  # nothing recorded yet: not valid
    code = (await shared(service, citizen))["code"]
    assert (await check(service, code)).json()["valid"] is False
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id), certification(book.id))
    shown = (await check(service, code)).json()
    assert (shown["valid"], shown["valid_until"]) == (True, "2027-11-20")
    service.peers.person(citizen.user_id, last_name="Смирнов")
    await service.records.refresh_holder(citizen.user_id)
    assert (await check(service, code)).json()["holder"] == "Смирнов И. И."
    await service.write(worker, book, exam(book.id, date="2026-11-25", conclusion="unfit"))
    shown = (await check(service, code)).json()
    assert (shown["valid"], shown["status_label"]) == (False, "Не действует")
    assert (shown["valid_until"], shown["next_due"]) == (None, None)
    stored = await service.store.shares.find_one({"book_id": book.id})
    assert stored is not None
    assert "Смирнов" not in str(stored)  # the card is sealed like the rest of the book


async def test_a_share_made_before_shares_kept_cards_is_checked_on_the_book(
    service: RecordsApp,
) -> None:
    citizen, book = await valid_book(service)
    code = (await shared(service, citizen))["code"]
    await service.store.shares.update_many({"book_id": book.id}, {"$unset": {"card": ""}})
    shown = (await check(service, code)).json()
    assert (shown["valid"], shown["holder"], shown["valid_until"]) == (
        True, "Иванов И. И.", "2027-11-20",
    )  # fmt: skip


async def test_a_share_made_while_the_book_changes_keeps_the_card_of_the_book_as_written(
    service: RecordsApp,
) -> None:
    """Shares made at the same time as records: whichever write comes first, every share ends
    with the card of the book as it is at the end (a share and a change never miss each
    other)."""
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    made, _ = await asyncio.gather(
        asyncio.gather(*(shared(service, citizen) for _ in range(3))),
        service.write(worker, book, exam(book.id), certification(book.id)),
    )
    for answer in made:
        shown = (await check(service, answer["code"])).json()
        assert (shown["valid"], shown["valid_until"]) == (True, "2027-11-20")


async def test_unknown_expired_and_revoked_codes_are_one_and_the_same_answer(
    service: RecordsApp,
) -> None:
    citizen, _ = await valid_book(service)
    revoked = (await shared(service, citizen))["code"]
    async with service.client(citizen) as http:
        assert (await http.delete(f"{SHARES}/{revoked}")).status_code == 204
    short = (await shared(service, citizen, expires_in_days=1))["code"]
    saved = service.clock.current
    service.clock.advance(days=1, seconds=1)
    try:
        answers = [
            await check(service, code)
            for code in (revoked, short, "A" * 26, "not-a-code", "7" * 64)
        ]
        pages = [await check(service, code, page=True) for code in (revoked, short, "B" * 26)]
    finally:
        service.clock.current = saved
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1  # not even the path differs
    assert answers[0].json()["detail"] == "Код недействителен."
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert {p.status_code for p in pages} == {404}
    assert len({p.text for p in pages}) == 1
    assert "Код недействителен" in pages[0].text


async def test_a_check_by_book_number_alone_finds_nothing(service: RecordsApp) -> None:
    _, book = await valid_book(service)
    for attempt in (book.number, book.number.replace("-", ""), book.id):
        answer = await check(service, attempt)
        assert answer.status_code == 404


async def test_the_holder_sees_each_code_with_its_checks_and_revokes_it_at_once(
    service: RecordsApp,
) -> None:
    citizen, _ = await valid_book(service)
    code = (await shared(service, citizen, employer_inn=ROMASHKA))["code"]
    for _ in range(2):
        assert (await check(service, code)).status_code == 200
    async with service.client(citizen) as http:
        listed = (await http.get(SHARES)).json()["items"]
    mine = next(item for item in listed if item["code"] == code)
    assert mine["checks"] == 2
    assert mine["last_checked_at"] is not None
    assert mine["active"] is True
    assert mine["employer_inn"] == ROMASHKA

    stranger = Caller.new()
    async with service.client(stranger) as http:
        theirs = await http.delete(f"{SHARES}/{code}")
        unknown = await http.delete(f"{SHARES}/{'C' * 26}")
        assert (await http.get(SHARES)).status_code == 404  # no book, no codes
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"]
    assert (await check(service, code)).status_code == 200  # untouched by the stranger

    async with service.client(citizen) as http:
        assert (await http.delete(f"{SHARES}/{code}")).status_code == 204
        assert (await http.delete(f"{SHARES}/{code}")).status_code == 204  # still revoked
        after = next(i for i in (await http.get(SHARES)).json()["items"] if i["code"] == code)
    assert after["active"] is False
    assert after["revoked_at"] is not None
    assert (await check(service, code)).status_code == 404


async def test_sharing_raises_events_without_the_code_and_the_holder_is_told_once_a_day(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen, book = await valid_book(service)
    code = (await shared(service, citizen))["code"]
    for _ in range(3):
        assert (await check(service, code)).status_code == 200
    async with service.client(citizen) as http:
        assert (await http.delete(f"{SHARES}/{code}")).status_code == 204
    await published.wait(book.id, "ShareRevoked")
    mine = [
        e
        for name in ("BookShared", "ShareChecked", "ShareRevoked")
        for e in published.of(book.id, name)
    ]
    assert [e.type.split(".")[-2] for e in mine] == ["BookShared", "ShareChecked", "ShareRevoked"]
    for envelope in mine:
        assert code not in envelope.to_bytes().decode()
    checked = catalog.ShareChecked.model_validate(mine[1].data)
    assert checked.holder_id == citizen.user_id
    # Every check is logged, durably, beside its code: the holder reads when.
    async with service.client(citizen) as http:
        [item] = [i for i in (await http.get(SHARES)).json()["items"] if i["code"] == code]
    assert item["checks"] == 3
    assert len(item["recent_checks"]) == 3


async def test_a_code_is_a_secret_no_log_line_holds(
    service: RecordsApp, caplog: pytest.LogCaptureFixture
) -> None:
    citizen, _ = await valid_book(service)
    with caplog.at_level(logging.DEBUG):
        code = (await shared(service, citizen))["code"]
        await check(service, code)
        await check(service, code, page=True)
        async with service.client(citizen) as http:
            await http.delete(f"{SHARES}/{code}")
        await check(service, code)
    assert caplog.records  # the service did log
    assert code not in caplog.text


async def test_public_checks_are_limited_per_client_address(service: RecordsApp) -> None:
    citizen, _ = await valid_book(service)
    code = (await shared(service, citizen))["code"]
    limit = service.records.settings.public_checks_per_minute
    ip = new_ip()
    async with service.client(ip=ip) as http:
        answers = [(await http.get(f"{VERIFY}/{code}")).status_code for _ in range(limit + 1)]
        page = await http.get(f"/check/{code}")
    assert answers == [200] * limit + [429]
    assert page.status_code == 429
    assert "Слишком много проверок" in page.text
    assert int(page.headers["retry-after"]) >= 1
    assert (await check(service, code)).status_code == 200  # another address is not held up


async def test_the_employer_sees_the_books_shared_with_its_inn(service: RecordsApp) -> None:
    citizen, book = await valid_book(service)
    code = (await shared(service, citizen, employer_inn=ROMASHKA))["code"]
    hr = Caller.new("employer", ROMASHKA)
    async with service.client(hr) as http:
        listed = (await http.get(EMPLOYER_BOOKS)).json()["items"]
        soon = (await http.get(EMPLOYER_BOOKS, params={"due_within_days": 400})).json()
        later = (await http.get(EMPLOYER_BOOKS, params={"due_within_days": 30})).json()
    mine = [i for i in listed if i["holder"] == "Иванов И. И." and i["next_due"] == "2027-11-20"]
    assert mine, listed
    assert mine[0] == {
        "holder": "Иванов И. И.", "position": "Повар", "valid": True,
        "status_label": "Действует", "next_due": "2027-11-20",
    }  # fmt: skip
    assert any(i["next_due"] == "2027-11-20" for i in soon["items"])
    assert all(i["next_due"] != "2027-11-20" for i in later["items"] if i["valid"])

    async with service.client(Caller.new("employer", OTHER_INN)) as http:
        other = (await http.get(EMPLOYER_BOOKS)).json()["items"]
    assert book.number not in str(other)
    assert all(i["holder"] != "Иванов И. И." for i in other)
    for role in ("citizen", "medical_worker", "operator"):
        async with service.client(Caller.new(role, ROMASHKA)) as http:
            assert (await http.get(EMPLOYER_BOOKS)).status_code == 403, role

    async with service.client(citizen) as http:
        assert (await http.delete(f"{SHARES}/{code}")).status_code == 204
    async with service.client(hr) as http:
        after = (await http.get(EMPLOYER_BOOKS)).json()["items"]
    assert len(after) == len(listed) - 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": "30"}, "expires_in_days"),
        ({}, "expires_in_days"),
        ({"expires_in_days": 30, "employer_inn": "7734567890"}, "employer_inn"),
        ({"expires_in_days": 30, "employer_inn": "ООО"}, "employer_inn"),
        ({"expires_in_days": 30, "code": "MINE"}, "code"),
    ],
)
async def test_a_wrong_share_request_names_its_field(
    service: RecordsApp, body: dict[str, Any], field: str
) -> None:
    citizen, _ = await service.issue()
    async with service.client(citizen) as http:
        refused = await http.post(SHARES, json=body)
        listed = (await http.get(SHARES)).json()["items"]
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert listed == []  # nothing made


async def test_the_employers_list_filter_is_checked(service: RecordsApp) -> None:
    async with service.client(Caller.new("employer", ROMASHKA)) as http:
        refused = await http.get(EMPLOYER_BOOKS, params={"due_within_days": -1})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["due_within_days"]


async def test_only_the_holder_shares_their_book(service: RecordsApp) -> None:
    for role in ("medical_worker", "operator", "employer", "admin"):
        async with service.client(Caller.new(role, ROMASHKA)) as http:
            assert (await http.post(SHARES, json={"expires_in_days": 3})).status_code == 403
    async with service.client(Caller.new()) as http:  # a citizen without a book
        assert (await http.post(SHARES, json={"expires_in_days": 3})).status_code == 404
