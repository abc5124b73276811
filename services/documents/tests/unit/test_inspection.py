"""The type by the bytes, and every way a file can be refused: broken, hostile (active
PDF content, another format's payload) or not a scan at all; and safe file names."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NameObject

from documents.domain.hostile import (
    MAX_PDF_NODES,
    Active,
    active_in_pdf,
    active_names_in_bytes,
    image_end,
)
from documents.domain.inspection import (
    MAX_BYTES,
    MAX_FILENAME,
    FileType,
    Refusal,
    RefusedError,
    detect,
    inspect,
    safe_filename,
)

from .. import samples


def refusal(data: bytes) -> RefusedError:
    with pytest.raises(RefusedError) as caught:
        inspect(data)
    return caught.value


def test_a_pdf_a_jpeg_and_a_png_are_taken() -> None:
    assert inspect(samples.pdf(pages=2)).pages == 2
    jpeg = inspect(samples.image("JPEG"))
    assert (jpeg.content_type, jpeg.width, jpeg.height) == (FileType.JPEG, 1240, 1748)
    assert inspect(samples.image("PNG", (1748, 1240))).content_type is FileType.PNG  # landscape


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (samples.docx(), "DOCX"),
        (samples.gif(), "GIF"),
        (samples.EXE, "EXE"),
        (b"just some text", "неизвестного формата"),
    ],
)
def test_other_formats_are_refused_saying_what_was_found(data: bytes, found: str) -> None:
    refused = refusal(data)
    assert refused.code is Refusal.UNSUPPORTED_TYPE
    assert found in refused.message
    assert "PDF, JPEG и PNG" in refused.message


def test_an_empty_file_is_refused() -> None:
    assert refusal(b"").code is Refusal.EMPTY


def test_more_than_five_megabytes_is_refused() -> None:
    assert MAX_BYTES == 5_242_880
    assert refusal(b"%PDF-" + b"0" * MAX_BYTES).code is Refusal.TOO_LARGE


def test_a_pdf_that_does_not_open_is_refused() -> None:
    assert refusal(b"%PDF-1.7\nthis is not really a pdf").code is Refusal.BROKEN_PDF


def test_a_password_protected_pdf_is_refused() -> None:
    refused = refusal(samples.pdf(password="secret"))
    assert refused.code is Refusal.ENCRYPTED_PDF
    assert "пароль" in refused.message


def test_an_image_that_does_not_decode_is_refused() -> None:
    truncated = samples.image("PNG")[:200]
    assert refusal(truncated).code is Refusal.BROKEN_IMAGE


@pytest.mark.parametrize("side", [6_000, 50_000])  # over our cap; over Pillow's own guard too
def test_a_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    bomb = samples.png_bomb(side, side)
    assert len(bomb) < 2000
    assert refusal(bomb).code is Refusal.DECOMPRESSION_BOMB


def test_a_scan_too_small_to_read_is_refused_naming_the_minimum() -> None:
    refused = refusal(samples.image("JPEG", (600, 800)))
    assert refused.code is Refusal.TOO_SMALL
    assert "600×800" in refused.message
    assert "1240×1748" in refused.message


def test_the_name_does_not_matter() -> None:
    assert detect(samples.image("PNG")[:16]) is FileType.PNG


@pytest.mark.parametrize(
    ("name", "file_type", "safe"),
    [
        ("../../etc/passwd.pdf", FileType.PDF, "passwd.pdf"),
        ("C:\\Users\\Анна\\Паспорт стр. 2.jpeg", FileType.JPEG, "Паспорт стр. 2.jpg"),
        ("scan.pdf", FileType.PNG, "scan.png"),  # the real type decides the extension
        ("\x00\x1b[31mevil<script>.png", FileType.PNG, "31mevil_script.png"),
        ("", FileType.PDF, "document.pdf"),
        (None, FileType.PDF, "document.pdf"),
        ("....", FileType.PDF, "document.pdf"),
    ],
)
def test_file_names_become_safe_base_names(
    name: str | None, file_type: FileType, safe: str
) -> None:
    assert safe_filename(name, file_type) == safe


# --- active content in a PDF ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("javascript", "(JavaScript)"),
        ("open_action", "(OpenAction)"),
        ("additional_actions", "(AA)"),
        ("launch", "(Launch)"),
        ("embedded_file", "вложенные файлы"),
        ("rich_media", "(RichMedia)"),
        ("xfa", "XFA"),
    ],
)
def test_a_pdf_with_active_content_is_refused_saying_what_it_holds(kind: str, named: str) -> None:
    data = samples.hostile_pdf(kind)
    refused = refusal(data)
    assert refused.code is Refusal.ACTIVE_CONTENT
    assert named in refused.message
    assert "Сохраните скан как обычный PDF" in refused.message
    # Found in pypdf's object model, not only in the bytes.
    assert active_in_pdf(PdfReader(io.BytesIO(data))) is not None


def test_javascript_is_named_as_the_issue_asks() -> None:
    assert refusal(samples.hostile_pdf("javascript")).message == (
        "PDF содержит исполняемое содержимое (JavaScript). Сохраните скан как обычный PDF "
        "без сценариев или загрузите JPEG/PNG."
    )


def test_hex_escaped_names_are_the_same_names() -> None:
    data = samples.hostile_pdf("open_action").replace(b"/OpenAction", b"/#4Fpen#41ction")
    assert b"/OpenAction" not in data
    assert active_in_pdf(PdfReader(io.BytesIO(data))) is Active.OPEN_ACTION
    # An open action is judged by what it holds (the object walk), never by its name alone.
    assert active_names_in_bytes(data) is None
    assert refusal(data).code is Refusal.ACTIVE_CONTENT
    launch = samples.hostile_pdf("launch").replace(b"/Launch", b"/L#61unch")
    assert b"/Launch" not in launch
    assert active_names_in_bytes(launch) is Active.LAUNCH


def test_a_pdf_that_opens_at_its_first_page_is_a_clean_pdf() -> None:
    """What LibreOffice and most PDF writers put in: /OpenAction [page /Fit], or a GoTo
    action, or a page's /AA going to another page — navigation, not active content."""
    for opening in ("destination", "goto", "page_goto"):
        data = samples.pdf_opening_at_first_page(opening)
        assert active_in_pdf(PdfReader(io.BytesIO(data))) is None, opening
        assert active_names_in_bytes(data) is None, opening
        assert inspect(data).pages == 1, opening


def test_an_object_pypdf_never_reaches_is_still_found_in_the_bytes() -> None:
    orphan = samples.pdf_with_orphan({"/S": "/JavaScript", "/JS": "/alert"})
    data = orphan.replace(b"/JS /alert", b"/J#53 /alert")  # and its name hex-escaped
    assert active_in_pdf(PdfReader(io.BytesIO(data))) is None  # not in the object graph
    refused = refusal(data)
    assert refused.code is Refusal.ACTIVE_CONTENT
    assert "(JavaScript)" in refused.message


def test_names_inside_stream_data_are_not_taken_for_active_content() -> None:
    # A scan's image data spells anything by chance; only dictionaries are judged.
    data = samples.pdf_with_stream(b"\x00/JS /AA /OpenAction /Launch PK\x03\x04 <htm\xff")
    assert inspect(data).pages == 1


def test_a_pdf_of_too_many_objects_is_refused_before_it_is_walked_to_the_end() -> None:
    writer = PdfWriter()
    page = writer.add_blank_page(width=420, height=595)
    nested = ArrayObject([ArrayObject([NameObject("/X")]) for _ in range(MAX_PDF_NODES)])
    page[NameObject("/Junk")] = nested
    out = io.BytesIO()
    writer.write(out)
    assert refusal(out.getvalue()).code is Refusal.TOO_COMPLEX


# --- polyglots: another format's payload in the same bytes ---------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (samples.pdf() + samples.docx(), "после конца PDF"),
        (samples.pdf() + b"\n" + samples.html_page(), "после конца PDF"),
        (samples.pdf_with_stream(samples.docx()), "архив ZIP"),
        (samples.pdf_with_stream(samples.html_page()), "веб-страница (HTML)"),
        (samples.html_page() + samples.pdf(), "перед началом PDF"),
    ],
)
def test_a_pdf_that_is_also_something_else_is_refused(data: bytes, says: str) -> None:
    refused = refusal(data)
    assert refused.code is Refusal.POLYGLOT
    assert refused.message.startswith("Файл не является чистым PDF")
    assert says in refused.message


def test_an_end_of_central_directory_alone_is_a_zip_too() -> None:
    archive = samples.docx()
    tail = archive[archive.rindex(b"PK\x05\x06") :]
    data = samples.pdf_with_stream(b"\x00" * 600 + tail)
    assert "архив ZIP" in refusal(data).message


def test_whitespace_after_the_end_of_a_pdf_is_fine() -> None:
    assert inspect(samples.pdf() + b"\r\n \x00\n").pages == 1


def test_a_pdf_cut_before_its_end_is_broken() -> None:
    data = samples.pdf()
    assert refusal(data[: data.rindex(b"%%EOF")]).code is Refusal.BROKEN_PDF


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (samples.image("PNG") + samples.docx(), "архив ZIP"),
        (samples.image("JPEG") + samples.docx(), "архив ZIP"),
        (samples.image("JPEG") + samples.html_page(), "веб-страницу (HTML)"),
        (samples.image("PNG") + b"\n\n" + samples.html_page(), "веб-страницу (HTML)"),
    ],
)
def test_an_image_with_an_archive_or_a_page_behind_it_is_refused(data: bytes, says: str) -> None:
    refused = refusal(data)
    assert refused.code is Refusal.POLYGLOT
    assert says in refused.message


def test_other_data_after_a_photo_is_left_to_the_decoder() -> None:
    # Phones append a second picture or a short video after the first image's end.
    jpeg = samples.image("JPEG")
    assert inspect(jpeg + samples.image("JPEG", (640, 480))).content_type is FileType.JPEG
    assert image_end(jpeg, png=False) == len(jpeg)
    png = samples.image("PNG")
    assert image_end(png, png=True) == len(png)


def test_four_bytes_spelling_a_zip_header_by_chance_are_not_an_archive() -> None:
    implausible = b"PK\x03\x04" + b"\xff" * 26 + b"PK\x05\x06" + b"\x07" * 18
    assert inspect(samples.pdf_with_stream(implausible)).pages == 1


# --- file names ----------------------------------------------------------------------------


def test_a_long_file_name_is_shortened_keeping_its_extension() -> None:
    name = "Скан паспорта гражданина " * 12 + ".jpeg"  # 300 characters and more
    safe = safe_filename(name, FileType.JPEG)
    assert len(safe) == MAX_FILENAME == 120
    assert safe.endswith(".jpg")
    assert name.startswith(safe[:-4])


def test_a_name_is_cut_by_characters_not_by_code_points() -> None:
    decomposed = "\u0438\u0306" * 300  # «й» written as «и» and a combining breve
    assert safe_filename(f"{decomposed}.pdf", FileType.PDF) == "й" * 116 + ".pdf"
