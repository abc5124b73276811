"""The type by the bytes, and every way a file can be refused."""

from __future__ import annotations

import pytest

from documents.domain.inspection import (
    MAX_BYTES,
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
