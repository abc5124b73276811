"""The printable extract: a PDF of the holder's book, with the QR of a share code made for it.

Read back as an employer would: the PDF opens (pypdf), its text holds what the paper promises,
and the QR in it — decoded from the embedded image by a real decoder — is a live share code
that passes the public check and sits in the holder's list of codes.
"""

from __future__ import annotations

import io
import itertools
import re
import uuid
from typing import Any

import pypdf
import pytest
import zxingcpp

from emk_testing import Caller

from .conftest import RecordsApp, certification, exam

EXTRACT = "/api/v1/records/book/extract.pdf"
SHARES = "/api/v1/records/book/shares"
VERIFY = "/api/v1/records/verify"
_ADDRESSES = itertools.count(1)


def vaccination(book_id: str) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()), "kind": "vaccination", "book_id": book_id,
        "disease": "diphtheria", "vaccine": "АДС-М", "series": "А-1234", "dose": 1,
        "date": "2026-10-05",
    }  # fmt: skip


def read(pdf: bytes) -> tuple[str, list[str]]:
    """The text of every page, and what every QR code in the images says."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    decoded = [
        barcode.text
        for page in reader.pages
        for image in page.images
        for barcode in zxingcpp.read_barcodes(image.image)
    ]
    return text, decoded


async def download(service: RecordsApp, who: Caller) -> Any:
    async with service.client(who) as http:
        return await http.get(EXTRACT)


async def test_the_holder_downloads_an_extract_whose_qr_is_a_live_share_code(
    service: RecordsApp,
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id), certification(book.id), vaccination(book.id))

    answer = await download(service, citizen)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert re.fullmatch(
        r'attachment; filename="emk-[0-9-]+-\d{8}\.pdf"', answer.headers["content-disposition"]
    )
    assert answer.content.startswith(b"%PDF-")

    text, qr = read(answer.content)
    assert book.number in text
    assert "Действует" in text
    assert "Не действует" not in text
    assert "Иванов Иван Иванович" in text
    assert "17.05.1990" in text
    assert "Периодический медицинский осмотр" in text
    assert "Заключение: Годен" in text
    assert "аттестация пройдена" in text
    assert "Дифтерия" in text
    assert "АДС-М" in text
    assert "Действительна до 20.11.2027" in text  # a year after the exam (DOMAIN.md)
    assert "29.11.2026 12:00 (МСК)" in text  # made now, on the Moscow clock
    assert "СНИЛС" not in text
    assert book.holder.snils not in text

    printed = re.search(r"Код:\s*([A-Z2-7]{26})", text)
    assert printed is not None, text
    code = printed.group(1)
    url = f"{service.records.settings.public_base_url}/check/{code}"
    assert url in text
    assert qr == [url]  # the QR in the PDF is the printed code's check page

    async with service.client(ip=f"2001:db8::e:{next(_ADDRESSES):x}") as http:
        checked = await http.get(f"{VERIFY}/{code}")
    assert checked.status_code == 200, checked.text
    assert checked.json()["book_number"] == book.number
    assert checked.json()["status_label"] == "Действует"

    async with service.client(citizen) as http:
        listed = (await http.get(SHARES)).json()["items"]
    mine = next(item for item in listed if item["code"] == code)
    assert mine["active"] is True
    assert mine["employer_inn"] is None  # in no employer's list
    assert mine["checks"] == 1
    assert mine["expires_at"].startswith("2026-12-29")  # 30 days


async def test_each_extract_has_its_own_code_and_a_book_not_valid_says_so(
    service: RecordsApp,
) -> None:
    citizen, book = await service.issue(last_name="Петров")
    first, second = [await download(service, citizen) for _ in range(2)]
    assert first.status_code == second.status_code == 200
    (text, qr_first), (_, qr_second) = read(first.content), read(second.content)
    assert qr_first != qr_second  # a new code for each paper, revocable on its own
    assert "Не действует" in text  # nothing recorded yet: no exam, no attestation
    assert "Действительна до" not in text
    assert "Петров Иван Иванович" in text
    assert book.number in text
    assert "Осмотров не записано." in text
    async with service.client(citizen) as http:
        codes = {item["url"] for item in (await http.get(SHARES)).json()["items"]}
    assert set(qr_first + qr_second) <= codes


@pytest.mark.parametrize("role", ["medical_worker", "operator", "employer", "admin"])
async def test_only_a_citizen_downloads_an_extract(service: RecordsApp, role: str) -> None:
    answer = await download(service, Caller.new(role, "1027700132195"))
    assert answer.status_code == 403


async def test_a_citizen_without_a_book_gets_no_extract(service: RecordsApp) -> None:
    assert (await download(service, Caller.new())).status_code == 404
    async with service.client() as http:
        assert (await http.get(EXTRACT)).status_code == 401
