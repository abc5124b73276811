"""Uploads, downloads, review and access — through the app, on the real servers."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from documents.ports import ObjectStorage
from emk_common import catalog
from emk_devstack.stack import Stack
from emk_testing import TopicTap, eventually

from .. import samples
from .conftest import DocumentsApp, Person, citizen, started

URL = "/api/v1/documents"
OPERATOR = Person("operator-1", "operator")
ADMIN = Person("admin-1", "admin")
REASON_TEXT = "проверка очереди документов"
REASON = {"X-Access-Reason": quote(REASON_TEXT)}


async def upload(
    http: httpx.AsyncClient,
    who: Person,
    data: bytes,
    name: str = "scan.pdf",
    kind: str = "passport",
) -> httpx.Response:
    return await http.post(
        URL, headers=who.headers, files={"file": (name, data)}, data={"kind": kind}
    )


async def read_all(storage: ObjectStorage, document_id: str, data_key: str, size: int) -> bytes:
    return b"".join([part async for part in storage.open(document_id, data_key, size)])


def pdf_of_size(total: int) -> bytes:
    """A valid PDF of exactly ``total`` bytes (a page whose content stream is padding)."""

    def build(padding: int) -> bytes:
        writer = PdfWriter()
        page = writer.add_blank_page(width=420, height=595)
        stream = DecodedStreamObject()
        stream.set_data(b"%" + b"0" * padding)
        page[NameObject("/Contents")] = writer._add_object(stream)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    padding = 1000
    for _ in range(10):  # offsets and lengths gain digits as the padding grows: converge
        data = build(padding)
        if len(data) == total:
            return data
        padding += total - len(data)
    raise AssertionError(f"could not build a PDF of {total} bytes")


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (samples.pdf(2), "Паспорт.pdf", "application/pdf"),
        (samples.image("JPEG"), "photo.jpeg", "image/jpeg"),
        (samples.image("PNG"), "scan.png", "image/png"),
        (samples.image("PNG"), "looks-like.pdf", "image/png"),  # a PNG named .pdf is a PNG
    ],
)
async def test_a_citizen_uploads_and_gets_the_same_bytes_back(
    documents: DocumentsApp, data: bytes, name: str, content_type: str
) -> None:
    owner = citizen()
    async with documents.client() as http:
        created = await upload(http, owner, data, name)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["status"] == "pending_review"
        assert body["status_label"] == "На проверке"
        assert (body["content_type"], body["size"]) == (content_type, len(data))
        assert body["sha256"] == hashlib.sha256(data).hexdigest()
        assert (
            body["filename"].rsplit(".", 1)[1]
            == {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[content_type]
        )
        back = await http.get(f"{URL}/{body['id']}/content", headers=owner.headers)
    assert back.status_code == 200
    assert back.content == data
    assert back.headers["content-type"] == content_type


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (samples.EXE, 415, "unsupported_type"),
        (samples.docx(), 415, "unsupported_type"),
        (samples.gif(), 415, "unsupported_type"),
        (b"", 422, "empty"),
        (samples.pdf(password="1234"), 422, "encrypted_pdf"),
        (b"%PDF-1.7\nnot a pdf at all", 422, "broken_pdf"),
        (samples.image("JPEG", (640, 480)), 422, "too_small"),
        (samples.png_bomb(), 422, "decompression_bomb"),
        (samples.pdf(payload=samples.eicar()), 422, "malware"),
        (samples.hostile_pdf("javascript"), 422, "active_content"),
        (samples.hostile_pdf("launch"), 422, "active_content"),
        (samples.pdf() + samples.docx(), 422, "polyglot"),
        (samples.image("JPEG") + samples.html_page(), 422, "polyglot"),
    ],
)
async def test_bad_files_are_refused_and_nothing_is_stored(
    documents: DocumentsApp, data: bytes, status: int, code: str
) -> None:
    owner = citizen()
    async with documents.client() as http:
        refused = await upload(http, owner, data, "document.pdf")
        listed = await http.get(URL, headers=owner.headers)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    codes = [e["code"] for e in problem.get("errors", [])] or [problem["type"].rsplit("/", 1)[1]]
    assert code.replace("_", "-") in [c.replace("_", "-") for c in codes]
    assert listed.json()["total"] == 0


async def test_exactly_five_megabytes_is_taken_and_one_byte_more_is_not(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    async with documents.client() as http:
        exact = await upload(http, owner, pdf_of_size(5_242_880))
        over = await upload(http, owner, pdf_of_size(5_242_881))
    assert exact.status_code == 201, exact.text
    assert over.status_code == 413
    assert "5 МБ" in over.json()["detail"]


async def test_a_gigabyte_body_is_refused_without_being_read(documents: DocumentsApp) -> None:
    owner = citizen()
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n\r\n%PDF-'
        chunk = b"0" * (1024 * 1024)
        for _ in range(1024):  # 1 GB, produced only as far as it is read
            sent += len(chunk)
            yield chunk

    headers = {**owner.headers, "Content-Type": "multipart/form-data; boundary=b"}
    async with documents.client() as http:
        declared = await http.post(
            URL, headers={**headers, "Content-Length": str(1024**3)}, content=body()
        )
        assert declared.status_code == 413
        assert sent <= 1024 * 1024  # refused from the declared length, before reading
        sent = 0
        chunked = await http.post(URL, headers=headers, content=body())
    assert chunked.status_code == 413
    assert sent <= 7 * 1024 * 1024  # stopped just past 5 MB


async def test_a_path_in_the_file_name_is_dropped(documents: DocumentsApp) -> None:
    async with documents.client() as http:
        created = await upload(http, citizen(), samples.pdf(), "../../../etc/cron.d/evil.pdf")
    assert created.json()["filename"] == "evil.pdf"


async def test_the_bucket_holds_only_ciphertext(documents: DocumentsApp) -> None:
    data = samples.pdf(3)
    async with documents.client() as http:
        created = (await upload(http, citizen(), data)).json()
    stored = documents.s3.get_object(documents.bucket, created["id"]).read()
    assert data[:200] not in stored
    assert b"%PDF" not in stored
    assert hashlib.sha256(stored).hexdigest() != created["sha256"]


async def test_someone_elses_document_does_not_exist_for_you(documents: DocumentsApp) -> None:
    async with documents.client() as http:
        created = (await upload(http, citizen(), samples.pdf())).json()
        stranger = citizen()
        employer = Person("employer-1", "employer")
        for who in (stranger, employer):
            assert (
                await http.get(f"{URL}/{created['id']}", headers=who.headers)
            ).status_code == 404
            assert (
                await http.get(f"{URL}/{created['id']}/content", headers=who.headers)
            ).status_code == 404
        assert (await http.get(f"{URL}/{created['id']}")).status_code == 401


async def test_staff_see_what_their_role_allows_and_every_read_is_logged(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    async with documents.client() as http:
        created = (await upload(http, owner, samples.pdf())).json()
        doc = f"{URL}/{created['id']}"
        no_reason = await http.get(f"{doc}/content", headers=OPERATOR.headers)
        assert no_reason.status_code == 422
        assert no_reason.json()["errors"][0]["field"] == "X-Access-Reason"
        reason = {"X-Access-Reason": quote("проверка заявления")}
        assert (
            await http.get(f"{doc}/content", headers={**OPERATOR.headers, **reason})
        ).status_code == 200
        assert (await http.get(doc, headers=ADMIN.headers)).status_code == 200
        assert (await http.get(f"{doc}/content", headers=ADMIN.headers)).status_code == 403
    log = (
        await documents.runtime.collection("access_log")
        .find({"document_id": created["id"]}, {"_id": 0, "actor_id": 1, "action": 1, "reason": 1})
        .to_list()
    )
    assert {
        "actor_id": OPERATOR.user_id,
        "action": "read_content",
        "reason": "проверка заявления",
    } in log
    assert {"actor_id": ADMIN.user_id, "action": "read_metadata", "reason": None} in log


async def test_an_operator_decides_once_and_events_follow(documents: DocumentsApp) -> None:
    owner = citizen()
    async with documents.client() as http:
        first = (await upload(http, owner, samples.pdf())).json()
        second = (await upload(http, owner, samples.pdf())).json()
        verified = await http.post(f"{URL}/{first['id']}/verify", headers=OPERATOR.headers)
        assert verified.json()["status"] == "verified"
        again = await http.post(
            f"{URL}/{first['id']}/reject", headers=OPERATOR.headers, json={"reason": "нечитаемо"}
        )
        assert again.status_code == 409
        no_reason = await http.post(
            f"{URL}/{second['id']}/reject", headers=OPERATOR.headers, json={}
        )
        assert no_reason.status_code == 422
        rejected = await http.post(
            f"{URL}/{second['id']}/reject",
            headers=OPERATOR.headers,
            json={"reason": "Скан нечитаем"},
        )
        assert (rejected.json()["status"], rejected.json()["reason"]) == (
            "rejected",
            "Скан нечитаем",
        )
        by_citizen = await http.post(f"{URL}/{second['id']}/verify", headers=owner.headers)
        assert by_citizen.status_code == 403


async def test_documents_waiting_over_a_day_are_overdue_for_operators(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    async with documents.client() as http:
        old = (await upload(http, owner, samples.pdf())).json()
        fresh = (await upload(http, owner, samples.pdf())).json()
        await documents.runtime.collection("documents").update_one(
            {"_id": old["id"]}, {"$set": {"created_at": datetime.now(UTC) - timedelta(hours=25)}}
        )
        queue = (
            await http.get(
                URL,
                headers={**OPERATOR.headers, **REASON},
                params={"overdue": "true", "limit": 100},
            )
        ).json()
    ids = [item["id"] for item in queue["items"]]
    assert old["id"] in ids
    assert fresh["id"] not in ids
    assert all(item["overdue"] for item in queue["items"])


async def test_with_the_scanner_away_an_upload_is_refused_not_stored(stack: Stack | None) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    suffix = uuid.uuid4().hex[:8]
    settings: dict[str, Any] = {
        "mongodb_database": f"documents_noscan_{suffix}", "s3_bucket": f"documents-{suffix}",
        "clamd_port": port, "clamd_timeout_seconds": 2,
    }  # fmt: skip
    async for app in started(settings):
        owner = citizen()
        async with app.client() as http:
            refused = await upload(http, owner, samples.pdf())
            listed = await http.get(URL, headers=owner.headers)
        assert refused.status_code == 503
        assert "Retry-After" in refused.headers
        assert listed.json()["total"] == 0


async def test_stored_segments_cannot_be_altered_truncated_or_moved(
    documents: DocumentsApp,
) -> None:
    from emk_common.crypto import DecryptionError

    data = pdf_of_size(2_500_000)  # three segments
    async with documents.client() as http:
        created = (await upload(http, citizen(), data)).json()
    storage = documents.documents.storage
    stored = await documents.documents.store.get(created["id"])
    assert stored is not None
    assert await read_all(storage, created["id"], stored.data_key, stored.size) == data
    s3, bucket = documents.s3, documents.bucket
    blob = s3.get_object(bucket, created["id"]).read()

    def put(name: str, body: bytes) -> None:
        s3.put_object(bucket, name, io.BytesIO(body), len(body))

    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    put(created["id"], bytes(flipped))
    with pytest.raises(DecryptionError):
        await read_all(storage, created["id"], stored.data_key, stored.size)

    put(created["id"], blob[: -(1024 * 1024)])  # the last segment dropped
    with pytest.raises((DecryptionError, ValueError)):
        await read_all(storage, created["id"], stored.data_key, stored.size - 1024 * 1024)

    other = uuid.uuid4().hex  # the same ciphertext under another document's name
    put(other, blob)
    with pytest.raises(DecryptionError):
        await read_all(storage, other, stored.data_key, stored.size)


async def test_a_read_is_logged_before_its_first_byte_and_a_dropped_read_stops(
    documents: DocumentsApp,
) -> None:
    from documents.adapters.s3 import SEGMENT
    from emk_common.auth import Principal

    owner = citizen()
    data = pdf_of_size(2_500_000)  # three segments
    async with documents.client() as http:
        created = (await upload(http, owner, data)).json()
    service = documents.documents
    stored = await service.store.get(created["id"])
    assert stored is not None
    who = Principal(owner.user_id, "citizen", None, None, uuid.uuid4().hex)

    def readers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("documents-read-")]

    async def logged() -> bool:
        log = documents.runtime.collection("access_log")
        return bool(await log.find_one({"document_id": created["id"], "action": "read_content"}))

    download = await service.read_content(who, created["id"], None)
    assert await logged()  # before a byte was handed out
    assert await anext(download.chunks) == data[:SEGMENT]
    await download.chunks.aclose()  # the client went away after one segment

    async def stopped() -> bool:
        return not readers()

    await eventually(stopped, what="the reading thread stops")
    service.storage.open(created["id"], stored.data_key, stored.size).close()  # unread
    await eventually(stopped, what="an unread stream's thread stops")


async def test_only_citizens_upload_and_the_kind_is_required(documents: DocumentsApp) -> None:
    async with documents.client() as http:
        by_operator = await upload(http, OPERATOR, samples.pdf())
        no_kind = await http.post(
            URL, headers=citizen().headers, files={"file": ("a.pdf", samples.pdf())}
        )
        bad_kind = await upload(http, citizen(), samples.pdf(), kind="selfie")
    assert by_operator.status_code == 403
    assert (no_kind.status_code, no_kind.json()["errors"][0]["field"]) == (422, "kind")
    assert [(e["field"], e["code"]) for e in bad_kind.json()["errors"]] == [("kind", "choice")]


async def test_decisions_are_published_with_the_owner(
    documents: DocumentsApp, kafka_bootstrap: str
) -> None:
    owner = citizen()
    async with documents.client() as http:
        created = (await upload(http, owner, samples.pdf())).json()
        await http.post(f"{URL}/{created['id']}/verify", headers=OPERATOR.headers)

    async def published() -> list[dict[str, Any]]:
        doc = await documents.runtime.collection("documents").find_one({"_id": created["id"]})
        return [] if doc is None or doc.get("_outbox") else [doc]

    await eventually(published, what="the relay to publish the decision")
    async with TopicTap(kafka_bootstrap, catalog.DOCUMENTS) as tap:
        records = await tap.wait(created["id"], "DocumentVerified")
    assert {
        "document_id": created["id"],
        "owner_id": owner.user_id,
        "verified_by": OPERATOR.user_id,
    } in [r.data for r in records]


async def test_a_document_whose_bytes_are_gone_is_a_problem_not_a_cut_off_download(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    async with documents.client() as http:
        created = (await upload(http, owner, samples.pdf(2))).json()
        await asyncio.to_thread(documents.s3.remove_object, documents.bucket, created["id"])
        answer = await http.get(f"{URL}/{created['id']}/content", headers=owner.headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/content-missing")


async def test_an_unknown_document_is_a_404_whoever_asks_and_however(
    documents: DocumentsApp,
) -> None:
    missing = f"{URL}/{'0' * 32}"
    asked = (
        (OPERATOR, missing),  # no reason given: still not there
        (ADMIN, f"{missing}/content"),  # content an admin may not read: still not there
        (citizen(), missing),
    )
    async with documents.client() as http:
        for who, path in asked:
            answer = await http.get(path, headers=who.headers)
            assert answer.status_code == 404, (path, answer.text)


async def test_a_pdf_with_javascript_is_refused_saying_why(documents: DocumentsApp) -> None:
    async with documents.client() as http:
        refused = await upload(http, citizen(), samples.hostile_pdf("javascript"))
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "file",
            "code": "active_content",
            "message": "PDF содержит исполняемое содержимое (JavaScript). Сохраните скан как "
            "обычный PDF без сценариев или загрузите JPEG/PNG.",
        }
    ]


async def stored_objects(documents: DocumentsApp) -> list[str]:
    objects = await asyncio.to_thread(documents.s3.list_objects, documents.bucket)
    return [o.object_name for o in objects if o.object_name]


async def test_two_files_in_one_upload_are_refused_naming_the_field(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    before = await stored_objects(documents)
    async with documents.client() as http:
        twice = await http.post(
            URL,
            headers=owner.headers,
            files=[("file", ("scan.pdf", samples.pdf())), ("file", ("eicar.com", samples.eicar()))],
            data={"kind": "passport"},
        )
        aside = await http.post(
            URL,
            headers=owner.headers,
            files=[("file", ("scan.pdf", samples.pdf())), ("extra", ("x.pdf", samples.pdf()))],
            data={"kind": "passport"},
        )
        listed = await http.get(URL, headers=owner.headers)
    assert twice.status_code == 422, twice.text
    assert [(e["field"], e["code"]) for e in twice.json()["errors"]] == [("file", "multiple_files")]
    assert [(e["field"], e["code"]) for e in aside.json()["errors"]] == [
        ("extra", "multiple_files")
    ]
    assert listed.json()["total"] == 0
    assert await stored_objects(documents) == before


async def test_a_body_that_ends_before_its_closing_boundary_is_refused(
    documents: DocumentsApp,
) -> None:
    owner = citizen()
    before = await stored_objects(documents)
    data = samples.pdf()

    async def cut_short() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\npassport\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
        yield data  # the whole file, and then the client stops: no "--b--"

    headers = {**owner.headers, "Content-Type": "multipart/form-data; boundary=b"}
    async with documents.client() as http:
        refused = await http.post(URL, headers=headers, content=cut_short())
        listed = await http.get(URL, headers=owner.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("file", "incomplete")]
    assert listed.json()["total"] == 0
    assert await stored_objects(documents) == before


async def test_a_very_long_file_name_is_shortened_not_refused(documents: DocumentsApp) -> None:
    name = "Скан паспорта " * 21 + "стр.pdf"  # 301 characters
    assert len(name) >= 300
    async with documents.client() as http:
        created = await upload(http, citizen(), samples.pdf(), name)
    assert created.status_code == 201, created.text
    stored = created.json()["filename"]
    assert (len(stored), stored[-4:]) == (120, ".pdf")
    assert name.startswith(stored[:-4])


async def test_an_operator_lists_documents_only_with_a_reason_and_it_is_logged(
    stack: Stack | None,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = {"mongodb_database": f"documents_list_{suffix}", "s3_bucket": f"documents-{suffix}"}
    async for documents in started(settings):  # its own database: the list is this test's
        owner = citizen()
        async with documents.client() as http:
            created = (await upload(http, owner, samples.pdf())).json()
            no_reason = await http.get(URL, headers=OPERATOR.headers)
            listed = await http.get(URL, headers={**OPERATOR.headers, **REASON})
            own = await http.get(URL, headers=owner.headers)  # the owner's: no reason, as before
        log = (
            await documents.runtime.collection("access_log")
            .find({}, {"_id": 0, "document_id": 1, "actor_id": 1, "action": 1, "reason": 1})
            .to_list()
        )
    assert no_reason.status_code == 422
    assert no_reason.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in no_reason.json()["errors"]] == ["X-Access-Reason"]
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert [item["id"] for item in own.json()["items"]] == [created["id"]]
    entry = {"document_id": created["id"], "reason": None}
    assert log == [  # the refused list read nothing; the owner's own list is not logged
        {**entry, "actor_id": owner.user_id, "action": "upload"},
        {**entry, "actor_id": OPERATOR.user_id, "action": "list", "reason": REASON_TEXT},
    ]
