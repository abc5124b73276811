"""Real files for the tests, made at run time (nothing binary is committed)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    PdfObject,
    TextStringObject,
)


def pdf(pages: int = 1, *, password: str | None = None, payload: bytes = b"") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=420, height=595)  # A5 in points
    if payload:
        writer.add_metadata({"/Subject": "scan"})
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    if payload:  # a content stream carrying the payload, as a scanner's PDF would
        data = data.replace(
            b"%%EOF",
            b"9 0 obj\n<< /Length %d >>\nstream\n" % len(payload)
            + payload
            + b"\nendstream\nendobj\n%%EOF",
        )
    return data


def image(kind: str = "PNG", size: tuple[int, int] = (1240, 1748)) -> bytes:
    out = io.BytesIO()
    Image.new("L" if kind == "PNG" else "RGB", size, 230).save(out, kind)
    return out.getvalue()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header declaring a vast canvas over a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (1300, 1800)).save(out, "GIF")
    return out.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200


def eicar() -> bytes:
    """The EICAR test string, assembled here so no file in the repo carries it whole."""
    return rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + rb"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


# --- hostile PDFs, each with one kind of active content (pypdf's writer, at run time) ------


def _action(kind: str, **entries: str | PdfObject) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = TextStringObject(value) if isinstance(value, str) else value
    return action


def _annotation(subtype: str, **entries: DictionaryObject) -> DictionaryObject:
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject(subtype),
            NameObject("/Rect"): ArrayObject([]),
        }
    )
    for key, value in entries.items():
        annotation[NameObject(f"/{key}")] = value
    return annotation


def hostile_pdf(kind: str) -> bytes:
    """A one-page PDF carrying ``kind``: ``javascript`` (the catalog's names tree),
    ``open_action`` (a URI opened on opening), ``additional_actions`` (a page's open action),
    ``launch`` (a link that starts a program), ``embedded_file`` (an attachment),
    ``rich_media`` (a RichMedia annotation) or ``xfa`` (an XFA form)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=420, height=595)
    root = writer.root_object
    if kind == "javascript":
        writer.add_open_action(JavaScript("app.alert('scan');"))
    elif kind == "open_action":
        root[NameObject("/OpenAction")] = _action("/URI", URI="https://evil.example/")
    elif kind == "additional_actions":
        opened = _action("/URI", URI="https://evil.example/")
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): opened})
    elif kind == "launch":
        link = _annotation("/Link", A=_action("/Launch", F="calc.exe"))
        page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    elif kind == "embedded_file":
        writer.add_attachment("invoice.exe", EXE)
    elif kind == "rich_media":
        page[NameObject("/Annots")] = ArrayObject([writer._add_object(_annotation("/RichMedia"))])
    elif kind == "xfa":
        template = DecodedStreamObject()
        template.set_data(b"<xdp:xdp/>")
        root[NameObject("/AcroForm")] = DictionaryObject(
            {
                NameObject("/Fields"): ArrayObject([]),
                NameObject("/XFA"): writer._add_object(template),
            }
        )
    else:
        raise ValueError(kind)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_opening_at_first_page(how: str) -> bytes:
    """A one-page PDF told to open at its page, fitted: ``destination`` (``/OpenAction
    [page /Fit]``, as LibreOffice writes), ``goto`` (a GoTo action) or ``page_goto`` (the
    page's own ``/AA`` open action, a GoTo)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=420, height=595)
    where = ArrayObject([page.indirect_reference, NameObject("/Fit")])
    if how == "destination":
        writer.root_object[NameObject("/OpenAction")] = where
    elif how == "goto":
        writer.root_object[NameObject("/OpenAction")] = _action("/GoTo", D=where)
    elif how == "page_goto":
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): _action("/GoTo", D=where)})
    else:
        raise ValueError(how)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_stream(data: bytes) -> bytes:
    """A valid one-page PDF whose content stream holds ``data`` as it is (no filter), as a
    scanner's image data would be."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=420, height=595)
    stream = DecodedStreamObject()
    stream.set_data(data)
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_orphan(entries: dict[str, str]) -> bytes:
    """A valid PDF holding one more object (of name ``entries``) that nothing refers to:
    following the objects from the catalog never reaches it; a viewer rebuilding a damaged
    cross-reference table would."""
    writer = PdfWriter()
    writer.add_blank_page(width=420, height=595)
    writer._add_object(DictionaryObject({NameObject(k): NameObject(v) for k, v in entries.items()}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def html_page() -> bytes:
    return b"<!DOCTYPE html><html><body><script>fetch('/steal')</script></body></html>"
