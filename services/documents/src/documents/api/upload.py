"""Reading a multipart upload ourselves, stopping at the size limit.

FastAPI's ``UploadFile`` parses the whole body before the handler runs, so a 1 GB body
would be read (and spooled) in full. Here the body is pulled from the ASGI stream chunk by
chunk through python-multipart's streaming parser: a declared ``Content-Length`` over the
limit is refused before a byte is read, and otherwise reading stops as soon as the file
part passes the limit by one byte.

One upload is one file: a second file part (under any field name) is refused as soon as its
headers are read, so nothing hides behind the file that is checked. A body that ends before
its closing boundary is refused too: what arrived may be a file cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from emk_common.problems import FieldError, Problem

# Room for the other form fields and the multipart framing around the file.
FRAMING_ALLOWANCE = 64 * 1024


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class Upload:
    filename: str | None
    fields: dict[str, str]
    data: bytes


def _too_large(limit: int) -> Problem:
    return Problem.payload_too_large(limit)


async def read_upload(request: Request, *, limit: int, file_field: str = "file") -> Upload:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise Problem.unsupported_media_type(
            ["multipart/form-data"], "Отправьте файл формой multipart/form-data с полем «file»."
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FRAMING_ALLOWANCE:
        raise _too_large(limit)

    parts: list[_Part] = []
    headers: dict[bytes, bytes] = {}
    header_name = bytearray()
    header_value = bytearray()
    state = {"file_bytes": 0, "other_bytes": 0, "files": 0, "ended": 0}

    def on_part_begin() -> None:
        headers.clear()
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        part = parts[-1]
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = disposition.get(b"filename")
        part.filename = (
            raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        )
        if part.filename is not None or part.name == file_field:
            state["files"] += 1
            if state["files"] > 1:
                raise _second_file(part.name or file_field)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        size = end - start
        if part.name == file_field:
            state["file_bytes"] += size
            if state["file_bytes"] > limit:
                raise _too_large(limit)
        else:
            state["other_bytes"] += size
            if state["other_bytes"] > FRAMING_ALLOWANCE:
                raise _too_large(limit)
        part.data += memoryview(data)[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": lambda: state.update(ended=1),
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)  # headers and framing too: a body is bounded as a whole
            if received > limit + FRAMING_ALLOWANCE:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except Problem:
        raise
    except Exception as exc:
        raise Problem.validation(
            [
                FieldError(
                    field="file",
                    code="malformed",
                    message="Тело запроса — некорректная форма multipart.",
                )
            ]
        ) from exc
    if not state["ended"]:
        raise Problem.validation(
            [
                FieldError(
                    field=file_field,
                    code="incomplete",
                    message="Форма передана не полностью (нет её завершения), файл не сохранён. "
                    "Загрузите файл ещё раз.",
                )
            ]
        )

    files = [p for p in parts if p.name == file_field]
    if not files:
        raise Problem.validation(
            [FieldError(field=file_field, code="missing", message="Приложите файл в поле «file».")]
        )
    fields = {
        p.name: p.data.decode("utf-8", "replace").strip() for p in parts if p.name != file_field
    }
    return Upload(files[0].filename, fields, bytes(files[0].data))


def _second_file(field_name: str) -> Problem:
    message = f"Приложите один файл: в поле «{field_name}» передан ещё один файл."
    return Problem.validation(
        [FieldError(field=field_name, code="multiple_files", message=message)]
    )
