"""Real files for the tests, made at run time (nothing binary is committed)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image
from pypdf import PdfWriter


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
