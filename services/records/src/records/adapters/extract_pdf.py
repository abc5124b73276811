"""The printable extract as a PDF (fpdf2): A4, Russian, with the QR of its share code.

Cyrillic needs a Unicode font embedded in the file: DejaVu Sans (free licence, see
``assets/fonts/LICENSE``) is bundled in this package and loaded from it, never from the
machine's fonts — the same bytes everywhere. fpdf2 embeds only the glyphs used, with their
Unicode map, so the text extracts as typed (a reader can copy the number or the code).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from records.domain.extract import TITLE, Entry, Extract

FAMILY = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
QR_SIZE_MM = 40
_GREY = (90, 90, 90)
_GREEN = (0, 110, 50)
_RED = (170, 0, 0)


@contextmanager
def font_paths() -> Iterator[dict[str, Path]]:
    """The bundled fonts as files (``as_file``: a real path even from a zipped package)."""
    fonts = resources.files("records").joinpath("assets", "fonts")
    with ExitStack() as stack:
        yield {
            style: stack.enter_context(resources.as_file(fonts.joinpath(name)))
            for style, name in FONT_FILES.items()
        }


def render_extract(extract: Extract, qr_png: bytes) -> bytes:
    """The extract as PDF bytes; ``qr_png`` the QR code of ``extract.url``."""
    with font_paths() as paths:
        pdf = _Page(extract)
        for style, path in paths.items():
            pdf.add_font(FAMILY, style, path)
        pdf.set_title(f"{TITLE} № {extract.number}")
        pdf.set_subject(extract.holder_name)
        pdf.set_creator("ЭМК")
        pdf.set_creation_date(extract.made_at)
        pdf.set_lang("ru")
        pdf.alias_nb_pages()
        pdf.add_page()
        _header(pdf, extract)
        _check(pdf, extract, qr_png)
        _section(pdf, "Медицинские осмотры", extract.exams, "Осмотров не записано.")
        _section(
            pdf,
            "Гигиеническое обучение и аттестация",
            extract.certifications,
            "Аттестаций не записано.",
        )
        _section(pdf, "Прививки", extract.vaccinations, "Прививок не записано.")
        _due(pdf, extract)
        return bytes(pdf.output())


class _Page(FPDF):
    def __init__(self, extract: Extract) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.extract = extract
        self.set_margins(18, 15, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FAMILY, size=8)
        self.set_text_color(*_GREY)
        made = f"Выписка сформирована {_moment(self.extract.made_at)} (МСК)"
        self.cell(0, 5, f"{made} · № {self.extract.number} · стр. {self.page_no()} из {{nb}}")
        self.set_text_color(0, 0, 0)


def _header(pdf: FPDF, extract: Extract) -> None:
    pdf.set_font(FAMILY, "B", 15)
    _lines(pdf, 0, 7, TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=9)
    pdf.set_text_color(*_GREY)
    made = f"Сформирована {_moment(extract.made_at)} (МСК)"
    pdf.cell(0, 5, made, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)
    _field(pdf, "Владелец", extract.holder_name)
    _field(pdf, "Дата рождения", _day(extract.birth_date))
    _field(pdf, "Номер книжки", extract.number)
    pdf.set_font(FAMILY, size=11)
    pdf.cell(45, 7, "Статус")
    pdf.set_font(FAMILY, "B", 13)
    pdf.set_text_color(*(_GREEN if extract.valid else _RED))
    pdf.cell(0, 7, extract.status_label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    if extract.valid and extract.valid_until is not None:
        _field(pdf, "Действительна до", _day(extract.valid_until))


def _check(pdf: FPDF, extract: Extract, qr_png: bytes) -> None:
    """The QR of the share code, what it is for, and the code and its address under it."""
    pdf.ln(4)
    top = pdf.get_y()
    if top + QR_SIZE_MM + 20 > pdf.page_break_trigger:
        pdf.add_page()
        top = pdf.get_y()
    left = pdf.l_margin
    pdf.image(io.BytesIO(qr_png), x=left, y=top, w=QR_SIZE_MM, h=QR_SIZE_MM)
    pdf.set_xy(left + QR_SIZE_MM + 5, top + 4)
    pdf.set_font(FAMILY, "B", 11)
    _lines(pdf, 0, 6, "Проверка подлинности", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=9)
    how = (
        "Отсканируйте QR-код телефоном или откройте адрес ниже: страница покажет, действует "
        f"ли книжка сейчас. Код действует до {_moment(extract.code_expires_at)} (МСК); "
        "владелец может отозвать его раньше."
    )
    _lines(pdf, 0, 5, how, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(left, top + QR_SIZE_MM + 1)
    pdf.set_font(FAMILY, size=9)
    pdf.cell(12, 5, "Код:")
    pdf.set_font(FAMILY, "B", 10)
    pdf.cell(0, 5, extract.code, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=9)
    pdf.cell(12, 5, "Адрес:")
    pdf.cell(0, 5, extract.url, link=extract.url, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _section(pdf: FPDF, title: str, entries: tuple[Entry, ...], empty: str) -> None:
    _heading(pdf, title)
    if not entries:
        pdf.set_font(FAMILY, size=10)
        pdf.cell(0, 6, empty, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    for entry in entries:
        if pdf.get_y() + 18 > pdf.page_break_trigger:
            pdf.add_page()  # an entry's date and title stay together
        pdf.set_font(FAMILY, "B", 10)
        title = f"{_day(entry.date)}  {entry.title}"
        _lines(pdf, 0, 5.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=9.5)
        for line in entry.details:
            _lines(pdf, 0, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=8.5)
        pdf.set_text_color(*_GREY)
        _lines(pdf, 0, 4.5, entry.made_by, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.5)


def _due(pdf: FPDF, extract: Extract) -> None:
    if not extract.due:
        return
    _heading(pdf, "Ближайшие сроки")
    pdf.set_font(FAMILY, size=10)
    for item in extract.due:
        pdf.cell(28, 5.5, _day(item.due_date))
        _lines(pdf, 0, 5.5, item.label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, title: str) -> None:
    pdf.ln(4)
    if pdf.get_y() + 20 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 12)
    pdf.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    y = pdf.get_y()
    pdf.set_draw_color(*_GREY)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.ln(1.5)


def _field(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(FAMILY, size=11)
    pdf.cell(45, 6.5, label)
    pdf.set_font(FAMILY, "B", 11)
    _lines(pdf, 0, 6.5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _lines(pdf: FPDF, w: float, h: float, text: str, **kwargs: Any) -> None:
    """A paragraph that wraps, aligned left (fpdf2 justifies by default, which spreads the
    words of a short line and the spaces into the extracted text)."""
    pdf.multi_cell(w, h, text, align="L", **kwargs)


def _day(value: date) -> str:
    return f"{value:%d.%m.%Y}"


def _moment(value: datetime) -> str:
    return f"{value:%d.%m.%Y %H:%M}"
