"""The printable extract on fakes: what it prints of the book (``domain/extract.py``), the
share code made for it, and the PDF renderer — fonts from the package, Cyrillic that
extracts as typed, a QR that reads back."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pypdf
import pytest
import zxingcpp

import records
from emk_common.problems import Problem
from records.adapters.extract_pdf import font_paths, render_extract
from records.adapters.qr import qr_png
from records.domain.dates import MOSCOW
from records.domain.extract import Due, Entry, Extract
from records.service.sharing import MAX_LIVE_SHARES

from .fakes import WORKER_NAME
from .rig import Rig, certification, citizen, exam

URL = "https://emk.example/check/ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.fixture
def rig() -> Rig:
    return Rig()


def sample(**changes: object) -> Extract:
    fields: dict[str, object] = {
        "holder_name": "Щукина Ёлка Эдуардовна",
        "birth_date": date(1990, 5, 17),
        "number": "77-01-000042-26",
        "valid": True,
        "status_label": "Действует",
        "valid_until": date(2027, 11, 20),
        "exams": (
            Entry(
                date(2026, 11, 20),
                "Периодический медицинский осмотр",
                ("Заключение: Годен", "Специалисты: терапевт, дерматовенеролог"),
                "ГБУЗ «Городская поликлиника № 1», Петрова Анна Сергеевна",
            ),
        ),
        "certifications": (
            Entry(
                date(2026, 11, 21),
                "Гигиеническое обучение: аттестация пройдена",
                ("Вид деятельности: Питание детей",),
                "ГБУЗ «Городская поликлиника № 1»",
            ),
        ),
        "vaccinations": (),
        "due": (Due("Периодический медицинский осмотр", date(2027, 11, 20)),),
        "made_at": datetime(2026, 11, 29, 12, 0, tzinfo=MOSCOW),
        "code": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "url": URL,
        "code_expires_at": datetime(2026, 12, 29, 12, 0, tzinfo=MOSCOW),
    }
    fields.update(changes)
    return Extract(**fields)  # type: ignore[arg-type]


def opened(pdf: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in opened(pdf).pages)


# --- the renderer -----------------------------------------------------------------------------


def test_the_fonts_come_from_the_package_not_the_machine() -> None:
    package = Path(records.__file__).parent
    with font_paths() as paths:
        assert set(paths) == {"", "B"}
        for path in paths.values():
            # Absolute: fpdf2 looks a relative name up in its FPDF_FONT_DIR too.
            assert path.is_absolute()
            assert path.is_file()
            assert path.resolve().is_relative_to(package / "assets" / "fonts")
    assert (package / "assets" / "fonts" / "LICENSE").is_file()


def test_cyrillic_text_extracts_as_typed_from_the_embedded_dejavu() -> None:
    pdf = render_extract(sample(), qr_png(URL))
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    for expected in (
        "Выписка из электронной медицинской книжки",
        "Щукина Ёлка Эдуардовна",  # Щ, Ё, Э: beyond the common letters
        "17.05.1990",
        "77-01-000042-26",
        "Действует",
        "Действительна до 20.11.2027",
        "Заключение: Годен",
        "ГБУЗ «Городская поликлиника № 1», Петрова Анна Сергеевна",
        "Вид деятельности: Питание детей",
        "Прививок не записано.",
        "Сформирована 29.11.2026 12:00 (МСК)",
        "Код: ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        URL,
    ):
        assert expected in text, expected
    reader = opened(pdf)
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[index]
    }
    assert fonts
    assert all("DejaVu" in name for name in fonts)  # no base-14 font
    assert reader.metadata is not None
    assert reader.metadata.title == "Выписка из электронной медицинской книжки № 77-01-000042-26"


def test_the_qr_in_the_pdf_reads_back_as_the_check_url() -> None:
    reader = opened(render_extract(sample(), qr_png(URL)))
    images = [image.image for image in reader.pages[0].images]
    assert [b.text for image in images for b in zxingcpp.read_barcodes(image)] == [URL]


def test_a_book_not_valid_shows_no_valid_until_and_a_long_one_runs_onto_more_pages() -> None:
    many = tuple(
        Entry(date(2026, 1, 1 + i % 28), "Прививка: Грипп", ("Вакцина: Совигрипп; Доза: 1",),
              "ГБУЗ «Городская поликлиника № 1»")
        for i in range(60)
    )  # fmt: skip
    pdf = render_extract(
        sample(valid=False, status_label="Не действует", vaccinations=many), qr_png(URL)
    )
    text = text_of(pdf)
    assert "Не действует" in text
    assert "Действительна до" not in text
    pages = len(opened(pdf).pages)
    assert pages >= 2
    assert f"стр. {pages} из {pages}" in text
    assert text.count("Прививка: Грипп") == 60


# --- the use case -------------------------------------------------------------------------------


async def test_the_extract_prints_the_current_records_with_a_new_code(rig: Rig) -> None:
    holder, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    first = exam(book.id, conclusion="fit_with_restrictions", restriction="Без ночных смен")
    await rig.write(signer, book, first)
    fix = exam(book.id, replaces=first["record_id"], reason="Ошибка при вводе заключения")
    await rig.write(signer, book, fix)
    await rig.write(signer, book, certification(book.id, category="children_food"))

    made = await rig.records.extract(holder)
    assert made.holder_name == "Иванов Иван Иванович"
    assert made.birth_date == date(1990, 5, 17)
    assert made.number == book.number
    assert (made.valid, made.status_label) == (True, "Действует")
    assert made.valid_until == date(2027, 11, 20)
    assert made.made_at == rig.clock().astimezone(MOSCOW)
    # The exam as corrected: one entry, its current version.
    assert [(e.title, e.details[0]) for e in made.exams] == [
        ("Периодический медицинский осмотр", "Заключение: Годен")
    ]
    assert made.exams[0].made_by == f"ГБУЗ «Городская поликлиника № 1», {WORKER_NAME}"
    assert [e.details for e in made.certifications] == [("Вид деятельности: Питание детей",)]
    assert made.vaccinations == ()
    assert {d.label for d in made.due} >= {
        "Периодический медицинский осмотр",
        "Гигиеническая аттестация",
    }

    shares = [share for share, _ in await rig.records.shares(holder)]
    assert [(s.code, s.employer_inn) for s in shares] == [(made.code, None)]
    assert made.url == rig.records.check_url(made.code)
    assert made.code_expires_at == shares[0].expires_at
    assert (shares[0].expires_at - shares[0].created_at).days == 30
    view = await rig.records.check(made.code)
    assert view is not None
    assert view.book_number == book.number


async def test_an_extract_counts_among_the_live_codes(rig: Rig) -> None:
    holder, _ = await rig.issued()
    codes = {(await rig.records.extract(holder)).code for _ in range(MAX_LIVE_SHARES)}
    assert len(codes) == MAX_LIVE_SHARES
    with pytest.raises(Problem) as refused:
        await rig.records.extract(holder)
    assert refused.value.status == 409


async def test_no_book_no_extract_and_no_code(rig: Rig) -> None:
    nobody = citizen()
    with pytest.raises(Problem) as refused:
        await rig.records.extract(nobody)
    assert refused.value.status == 404
    assert await rig.store.shares_of(nobody.user_id) == []
