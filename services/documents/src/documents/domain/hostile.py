"""What a file may carry besides the scan: active content in a PDF, and another format's
payload hidden in it (a polyglot: the same bytes are also a ZIP archive or an HTML page).

A scan is shown to an operator in a browser's PDF viewer or image viewer; a script, an
action run on opening, an embedded file or an archive glued to the image would reach the
operator's machine, so such a file is refused. Pure functions over bytes and pypdf's object
model; :mod:`documents.domain.inspection` turns what they find into the refusal's message.
"""

from __future__ import annotations

import re
import struct
from enum import Enum

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, PdfObject

# The most objects (dictionaries and arrays, direct or not) one PDF may hold for the walk
# below: a scan has a few hundred, a hundred pages of them a few thousand.
MAX_PDF_NODES = 50_000
# Whitespace as PDF defines it (ISO 32000-2, 7.2.3): what may follow the last %%EOF.
PDF_WHITESPACE = b"\x00\t\n\x0c\r "


class Active(Enum):
    """Active content of a PDF, in the order a refusal names it (the first found of these)."""

    JAVASCRIPT = "JavaScript"
    LAUNCH = "Launch"
    OPEN_ACTION = "OpenAction"
    ADDITIONAL_ACTIONS = "AA"
    EMBEDDED_FILE = "EmbeddedFile"
    RICH_MEDIA = "RichMedia"
    XFA = "XFA"


class Foreign(Enum):
    """What does not belong in a clean PDF or image."""

    ZIP = "zip"
    HTML = "html"
    BEFORE_START = "before_start"  # bytes before %PDF-
    AFTER_END = "after_end"  # bytes after the last %%EOF


class TooComplexError(Exception):
    """The PDF holds more objects than :data:`MAX_PDF_NODES`."""


# --- active content in a PDF ---------------------------------------------------------------

_KEYS = {
    "/JS": Active.JAVASCRIPT,
    "/JavaScript": Active.JAVASCRIPT,  # the catalog's names tree of document scripts
    "/EmbeddedFiles": Active.EMBEDDED_FILE,  # the catalog's names tree of attachments
    "/EmbeddedFile": Active.EMBEDDED_FILE,
    "/EF": Active.EMBEDDED_FILE,  # a file specification carrying the file itself
    "/RichMediaContent": Active.RICH_MEDIA,
    "/XFA": Active.XFA,
}
_VALUES = {  # of /S (an action's type), /Type and /Subtype
    "/JavaScript": Active.JAVASCRIPT,
    "/Launch": Active.LAUNCH,
    "/EmbeddedFile": Active.EMBEDDED_FILE,
    "/FileAttachment": Active.EMBEDDED_FILE,
    "/RichMedia": Active.RICH_MEDIA,
}


def active_in_pdf(reader: PdfReader) -> Active | None:
    """The first (by :class:`Active`'s order) active content anywhere in the object graph
    from the trailer: the catalog and its names trees, pages, annotations, form fields,
    outlines, actions chained by ``/Next``. Stream data is not read, only streams'
    dictionaries. :class:`TooComplexError` past :data:`MAX_PDF_NODES` objects."""
    found: set[Active] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[PdfObject | None] = [reader.trailer]
    nodes = 0
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                continue
            seen.add(ref)
            node = node.get_object()
        values: list[PdfObject]
        if isinstance(node, DictionaryObject):  # a stream's dictionary too
            values = list(dict.values(node))
            found.update(_KEYS[key] for key in node if key in _KEYS)
            if _acts("/OpenAction", dict.get(node, "/OpenAction"), triggers=False):
                found.add(Active.OPEN_ACTION)
            if _acts("/AA", dict.get(node, "/AA"), triggers=True):
                found.add(Active.ADDITIONAL_ACTIONS)
            for key in ("/S", "/Type", "/Subtype"):
                value = dict.get(node, key)
                if isinstance(value, IndirectObject):
                    value = value.get_object()
                if isinstance(value, str) and value in _VALUES:
                    found.add(_VALUES[value])
        elif isinstance(node, ArrayObject):
            values = list(node)
        else:
            continue
        nodes += 1
        if nodes > MAX_PDF_NODES:
            raise TooComplexError
        stack.extend(
            v for v in values if isinstance(v, IndirectObject | DictionaryObject | ArrayObject)
        )
    return min(found, key=list(Active).index, default=None)


# Actions that only move within the document: what a PDF writer's "open at page 1, fit"
# is (LibreOffice writes one). Any other action on opening or on an event is refused.
_NAVIGATION = frozenset({"/GoTo"})


def _acts(key: str, value: PdfObject | None, *, triggers: bool) -> bool:
    """Whether ``/OpenAction`` (a destination or an action) or ``/AA`` (trigger → action)
    does more than go to a place in this document."""
    del key  # named for the reader of a call
    if isinstance(value, IndirectObject):
        value = value.get_object()
    if value is None or isinstance(value, ArrayObject):
        return False  # a destination: [page /Fit] and the like
    if not isinstance(value, DictionaryObject):
        return True  # neither a destination nor an action: nothing a clean writer makes
    actions = list(dict.values(value)) if triggers else [value]
    for action in actions:
        if isinstance(action, IndirectObject):
            action = action.get_object()
        kind = dict.get(action, "/S") if isinstance(action, DictionaryObject) else None
        if isinstance(kind, IndirectObject):
            kind = kind.get_object()
        if kind not in _NAVIGATION:
            return True
    return False


# The names of active content as tokens (ISO 32000-2, 7.3.5): not the start of a longer
# name. /OpenAction and /AA are not among them: a page to open at is one too, so only the
# object walk, which sees what they hold, judges them.
_ACTIVE_NAME = re.compile(
    rb"/(JS|JavaScript|EmbeddedFiles?|RichMedia(?:Content)?|XFA|Launch)"
    rb"(?![A-Za-z0-9#])"
)
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_NAMES = {key.encode()[1:]: active for key, active in _KEYS.items() if key != "/EF"} | {
    b"Launch": Active.LAUNCH,
    b"RichMedia": Active.RICH_MEDIA,
}


def active_names_in_bytes(data: bytes) -> Active | None:
    """The same names found in the raw bytes outside stream data, ``#XX`` escapes undone
    (``/#4A#53`` is ``/JS``): a backstop for objects a viewer would find and pypdf's reading
    does not reach (an object left out of a broken cross-reference table, say). Stream data
    is skipped: an image's or a compressed stream's bytes spell ``/AA`` often enough by
    chance."""
    found: set[Active] = set()
    for piece in _outside_streams(data):
        if b"#" in piece:
            piece = _HEX_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode()), piece)
        found.update(_NAMES[match.group(1)] for match in _ACTIVE_NAME.finditer(piece))
    return min(found, key=list(Active).index, default=None)


def _outside_streams(data: bytes) -> list[bytes]:
    """The file without what lies between each ``stream`` keyword and its ``endstream``
    (one pass: each search starts where the last one ended)."""
    pieces: list[bytes] = []
    position = search = 0
    while (start := data.find(b"stream", search)) >= 0:
        search = start + 6
        if data[start - 1 : start].isalpha() or data[search : search + 1] not in (b"\r", b"\n"):
            continue  # "endstream", or the word inside something else
        pieces.append(data[position:start])
        end = data.find(b"endstream", search)
        if end < 0:
            return pieces
        position = search = end + len(b"endstream")
    pieces.append(data[position:])
    return pieces


# --- another format's payload --------------------------------------------------------------

_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body|script|iframe)[\s>/]", re.IGNORECASE)
# ZIP compression methods (APPNOTE 4.4.5) a real archive uses.
_ZIP_METHODS = frozenset({0, 1, 6, 8, 9, 12, 14, 19, 93, 95, 96, 97, 98, 99})


def foreign_payload(data: bytes, *, html: bool) -> Foreign | None:
    """A ZIP archive's record (a local file header or the end of central directory) or,
    with ``html``, the start of an HTML document anywhere in ``data``. A record's fields
    must be plausible, so four bytes of compressed data that happen to spell ``PK\\x03\\x04``
    do not count."""
    if _zip_record(data):
        return Foreign.ZIP
    if html and _HTML.search(data):
        return Foreign.HTML
    return None


def _zip_record(data: bytes) -> bool:
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        header = data[at + 4 : at + 30]
        if len(header) == 26:
            version, _, method = struct.unpack_from("<HHH", header)
            (name_length,) = struct.unpack_from("<H", header, 22)
            if version & 0xFF < 64 and method in _ZIP_METHODS and 0 < name_length <= 1024:
                return True
        at = data.find(b"PK\x03\x04", at + 1)
    at = data.find(b"PK\x05\x06")
    while at >= 0:
        record = data[at + 4 : at + 22]
        if len(record) == 18:
            disk, directory_disk, here, total, size, offset, _ = struct.unpack("<HHHHIIH", record)
            if disk == directory_disk == 0 and here == total and offset + size <= at:
                return True
        at = data.find(b"PK\x05\x06", at + 1)
    return False


def pdf_framing(data: bytes) -> Foreign | None:
    """Bytes outside the PDF: before ``%PDF-`` or after the last ``%%EOF`` (whitespace
    aside). A file with no ``%%EOF`` at all is not judged here (it is a broken PDF)."""
    if not data.startswith(b"%PDF-"):
        return Foreign.BEFORE_START
    end = data.rfind(b"%%EOF")
    if end >= 0 and data[end + 5 :].strip(PDF_WHITESPACE):
        return Foreign.AFTER_END
    return None


def image_end(data: bytes, *, png: bool) -> int | None:
    """Where the image ends: after PNG's ``IEND`` chunk or JPEG's ``EOI`` marker; None
    when the structure cannot be followed to its end (the decoder will judge it)."""
    return _png_end(data) if png else _jpeg_end(data)


def _png_end(data: bytes) -> int | None:
    position = 8
    while position + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        position += 12 + length
        if kind == b"IEND":
            return position if position <= len(data) else None
    return None


_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7: no length follows


def _jpeg_end(data: bytes) -> int | None:
    position = 2  # after SOI
    size = len(data)
    while position < size:
        if data[position] != 0xFF:
            return None
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            return None
        marker = data[position]
        position += 1
        if marker == 0xD9:  # EOI
            return position
        if marker in _STANDALONE:
            continue
        if position + 2 > size:
            return None
        (length,) = struct.unpack_from(">H", data, position)
        position += length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next real marker
            position = _after_entropy_coded(data, position)
    return None


def _after_entropy_coded(data: bytes, position: int) -> int:
    """The offset of the next marker that is not a stuffed 0xFF00 or a restart marker."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            return len(data)
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position += 1 if following == 0xFF else 2
            continue
        return position
