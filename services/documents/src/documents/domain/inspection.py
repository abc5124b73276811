"""What an uploaded file really is, and whether an operator will be able to read it.

The type is decided by the bytes, never by the name or the declared type. A file is
refused — with a Russian message saying what to do — when it is empty, not a PDF/JPEG/PNG,
a PDF that does not open or needs a password, a PDF with active content (scripts, actions,
embedded files), a file carrying another format's payload (``domain/hostile.py``), an image
that does not decode, a decompression bomb, or a scan too small to be legible.

Legibility: DOMAIN.md advises 300 dpi. A passport page or an ОМС policy is about A6
(105 × 148 mm); at 300 dpi that is 1240 × 1748 pixels, the minimum we take for an image
(orientation-independent). PDFs carry their own resolution and are not measured.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from documents.domain.hostile import (
    MAX_PDF_NODES,
    PDF_WHITESPACE,
    Active,
    Foreign,
    TooComplexError,
    active_in_pdf,
    active_names_in_bytes,
    foreign_payload,
    image_end,
    pdf_framing,
)

MAX_BYTES = 5 * 1024 * 1024  # 5,242,880: DOMAIN.md's «не более 5 МБ»
MIN_SHORT_SIDE = 1240
MIN_LONG_SIDE = 1748
# An upload has at most 5 MB; a real scan at that size is far below this many pixels, so a
# larger canvas is a decompression bomb. It also bounds the memory one decode may take.
MAX_PIXELS = 25_000_000
# How far into a file detect() looks for a PDF start hidden behind other bytes.
HEAD_BYTES = 1024
# A stored file name, extension included, is at most this long (in characters).
MAX_FILENAME = 120


class FileType(StrEnum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


EXTENSIONS = {FileType.PDF: "pdf", FileType.JPEG: "jpg", FileType.PNG: "png"}

_ACCEPTED = (
    (b"%PDF-", FileType.PDF),
    (b"\xff\xd8\xff", FileType.JPEG),
    (b"\x89PNG\r\n\x1a\n", FileType.PNG),
)
# Formats people often send by mistake, to say what was found and what to do instead.
_KNOWN = (
    (b"PK\x03\x04", "архив ZIP или документ Word/Excel (DOCX, XLSX)"),
    (b"GIF8", "изображение GIF"),
    (b"MZ", "программа Windows (EXE)"),
    (b"\x7fELF", "программа (исполняемый файл)"),
    (b"BM", "изображение BMP"),
    (b"II*\x00", "изображение TIFF"),
    (b"MM\x00*", "изображение TIFF"),
    (b"\xd0\xcf\x11\xe0", "документ Word/Excel старого формата (DOC, XLS)"),
    (b"{\\rtf", "документ RTF"),
)
_ACCEPTED_HINT = "Принимаются только PDF, JPEG и PNG: сохраните документ как PDF или сделайте скан."


class Refusal(StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    BROKEN_PDF = "broken_pdf"
    ENCRYPTED_PDF = "encrypted_pdf"
    BROKEN_IMAGE = "broken_image"
    DECOMPRESSION_BOMB = "decompression_bomb"
    TOO_SMALL = "too_small"
    ACTIVE_CONTENT = "active_content"
    POLYGLOT = "polyglot"
    TOO_COMPLEX = "too_complex"


@dataclass(frozen=True)
class RefusedError(Exception):
    code: Refusal
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Inspection:
    content_type: FileType
    pages: int | None = None
    width: int | None = None
    height: int | None = None


_SCRIPTS = "Сохраните скан как обычный PDF без сценариев или загрузите JPEG/PNG."
_ATTACHMENTS = "Сохраните скан как обычный PDF без вложений или загрузите JPEG/PNG."
_ACTIVE = {
    Active.JAVASCRIPT: ("PDF содержит исполняемое содержимое (JavaScript).", _SCRIPTS),
    Active.LAUNCH: ("PDF содержит команду запуска программы (Launch).", _SCRIPTS),
    Active.OPEN_ACTION: (
        "PDF содержит действие, выполняемое при открытии файла (OpenAction).",
        _SCRIPTS,
    ),
    Active.ADDITIONAL_ACTIONS: ("PDF содержит автоматически выполняемые действия (AA).", _SCRIPTS),
    Active.EMBEDDED_FILE: ("PDF содержит вложенные файлы.", _ATTACHMENTS),
    Active.RICH_MEDIA: ("PDF содержит встроенное мультимедиа (RichMedia).", _ATTACHMENTS),
    Active.XFA: ("PDF содержит динамическую форму XFA.", _SCRIPTS),
}
_IN_PDF = {
    Foreign.ZIP: "внутри него спрятан архив ZIP",
    Foreign.HTML: "внутри него спрятана веб-страница (HTML)",
    Foreign.BEFORE_START: "перед началом PDF есть посторонние данные",
    Foreign.AFTER_END: "после конца PDF есть посторонние данные",
}
_IN_IMAGE = {Foreign.ZIP: "архив ZIP", Foreign.HTML: "веб-страницу (HTML) после конца изображения"}


def _active(found: Active) -> RefusedError:
    what, advice = _ACTIVE[found]
    return RefusedError(Refusal.ACTIVE_CONTENT, f"{what} {advice}")


def _not_clean_pdf(found: Foreign) -> RefusedError:
    return RefusedError(
        Refusal.POLYGLOT,
        f"Файл не является чистым PDF: {_IN_PDF[found]}. "
        "Сохраните скан как обычный PDF заново или загрузите JPEG/PNG.",
    )


def detect(head: bytes) -> FileType:
    """The file's type from its first bytes (up to :data:`HEAD_BYTES`); :class:`RefusedError`
    when it is not one we take."""
    if not head:
        raise RefusedError(Refusal.EMPTY, "Файл пустой. Выберите файл со сканом документа.")
    for magic, file_type in _ACCEPTED:
        if head.startswith(magic):
            return file_type
    if b"%PDF-" in head[:HEAD_BYTES]:  # a PDF behind something else: an HTML page, say
        raise _not_clean_pdf(Foreign.BEFORE_START)
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        found = "изображение WebP"
    elif head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        found = "фотография HEIC (формат iPhone)"
    else:
        found = next(
            (name for magic, name in _KNOWN if head.startswith(magic)), "файл неизвестного формата"
        )
    raise RefusedError(Refusal.UNSUPPORTED_TYPE, f"Загружен {found}. {_ACCEPTED_HINT}")


def inspect(data: bytes) -> Inspection:
    """Check a whole upload (at most :data:`MAX_BYTES`); blocking: run it in a thread."""
    if len(data) > MAX_BYTES:
        raise RefusedError(
            Refusal.TOO_LARGE,
            "Файл больше 5 МБ. Уменьшите разрешение скана или разделите документ.",
        )
    file_type = detect(data[:HEAD_BYTES])
    if file_type is FileType.PDF:
        return _inspect_pdf(data)
    return _inspect_image(data, file_type)


def _inspect_pdf(data: bytes) -> Inspection:
    broken = RefusedError(
        Refusal.BROKEN_PDF, "PDF-файл повреждён и не открывается. Сохраните документ в PDF заново."
    )
    if b"%%EOF" not in data:  # cut short: and nothing would tell where the PDF ends
        raise broken
    foreign = pdf_framing(data) or foreign_payload(data, html=True)
    if foreign is not None:
        raise _not_clean_pdf(foreign)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Through a BufferedReader: pypdf asks a BytesIO for getbuffer() only to learn the
            # size, and exporting a buffer makes the BytesIO copy all 5 MB first.
            reader = PdfReader(io.BufferedReader(io.BytesIO(data)), strict=False)
            if reader.is_encrypted:
                raise RefusedError(
                    Refusal.ENCRYPTED_PDF,
                    "PDF защищён паролем, и сотрудник не сможет его открыть. "
                    "Снимите пароль и загрузите файл снова.",
                )
            pages = len(reader.pages)
            if pages == 0:
                raise broken
            reader.pages[0].mediabox  # noqa: B018 - touching the first page proves it parses
            active = active_in_pdf(reader) or active_names_in_bytes(data)
            if active is not None:
                raise _active(active)
    except RefusedError:
        raise
    except TooComplexError as exc:
        raise RefusedError(
            Refusal.TOO_COMPLEX,
            f"PDF слишком сложный для проверки: в нём больше {MAX_PDF_NODES} объектов. "
            "Сохраните скан как обычный PDF заново или загрузите JPEG/PNG.",
        ) from exc
    except (
        PdfReadError,
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        OSError,
        RecursionError,  # objects nested without end
    ) as exc:
        raise broken from exc
    return Inspection(FileType.PDF, pages=pages)


def _inspect_image(data: bytes, file_type: FileType) -> Inspection:
    broken = RefusedError(
        Refusal.BROKEN_IMAGE,
        "Изображение повреждено и не открывается. Сделайте скан или фото заново.",
    )
    bomb = RefusedError(
        Refusal.DECOMPRESSION_BOMB,
        "Изображение слишком большое по числу точек и не может быть обработано. "
        "Загрузите обычный скан или фото.",
    )
    end = image_end(data, png=file_type is FileType.PNG)
    after = data[end:] if end is not None else b""
    foreign = foreign_payload(data, html=False) or (
        foreign_payload(after, html=True) if after.strip(PDF_WHITESPACE) else None
    )
    if foreign is not None:
        raise RefusedError(
            Refusal.POLYGLOT,
            f"Изображение содержит спрятанные данные: {_IN_IMAGE[foreign]}. "
            "Сохраните скан заново как обычный JPEG или PNG или загрузите PDF.",
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # from the header, before anything is decoded
            if width * height > MAX_PIXELS:
                raise bomb
            if min(width, height) < MIN_SHORT_SIDE or max(width, height) < MIN_LONG_SIDE:
                raise RefusedError(
                    Refusal.TOO_SMALL,
                    f"Скан слишком мелкий ({width}×{height} точек), текст будет нечитаем. "
                    f"Нужно не меньше {MIN_SHORT_SIDE}×{MIN_LONG_SIDE} точек: отсканируйте "
                    "документ с разрешением 300 dpi или сфотографируйте его ближе.",
                )
            if file_type is FileType.JPEG:
                image.draft("RGB", (width // 8, height // 8))  # decode at 1/8: proves it, cheaply
            image.load()
    except RefusedError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, for the most extreme
        raise bomb from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise broken from exc
    return Inspection(file_type, width=width, height=height)


_UNSAFE = re.compile(r"[^\w\-. ()]+")


def safe_filename(name: str | None, file_type: FileType) -> str:
    """The base name only, without paths, control or odd characters, with the real extension;
    a long one cut to :data:`MAX_FILENAME` characters, the extension kept."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    extension = EXTENSIONS[file_type]
    stem = _UNSAFE.sub("_", base.rsplit(".", 1)[0] if "." in base else base).strip(" ._")
    # After NFC and the filter above no combining mark is left on its own: cutting by code
    # points cuts between whole characters.
    stem = stem[: MAX_FILENAME - len(extension) - 1].strip(" ._")
    return f"{stem or 'document'}.{extension}"
