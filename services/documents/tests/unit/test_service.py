"""The use cases on fakes of the ports: upload, read, list, review — no servers."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from documents.domain.document import Document
from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem
from emk_testing import FakeClock

from .. import samples
from .fakes import CHUNK, Service, person, service

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
OWNER = person("owner-1")
OPERATOR = person("operator-1", "operator")
ADMIN = person("admin-1", "admin")
QUEUE = "проверка очереди документов"


@pytest.fixture
def s() -> Service:
    return service(FakeClock(NOW))


async def uploaded(s: Service, data: bytes | None = None, **kw: str) -> Document:
    return await s.documents.upload(
        OWNER, kw.get("kind", "passport"), kw.get("filename", "scan.pdf"), data or samples.pdf()
    )


def refused(caught: pytest.ExceptionInfo[Problem]) -> tuple[int, list[str]]:
    problem = caught.value
    return problem.status, [e.code for e in problem.errors] or [problem.code]


async def test_an_upload_is_sealed_stored_published_and_logged(s: Service) -> None:
    data = samples.pdf(2)
    document = await uploaded(s, data, filename="../../Паспорт.pdf")
    assert (document.status, document.status_label) == ("pending_review", "На проверке")
    assert (document.size, document.content_type, document.pages) == (
        len(data),
        "application/pdf",
        2,
    )
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.filename == "Паспорт.pdf"
    assert document.created_at == NOW
    assert [(h.status, h.at, h.by) for h in document.history] == [
        ("pending_review", NOW, "owner-1")
    ]
    assert s.storage.objects[document.id] == data[::-1]  # what storage sealed, not the bytes
    assert s.store.documents[document.id] == document
    [event] = s.store.events
    assert isinstance(event, catalog.DocumentUploaded)
    assert (event.document_id, event.owner_id, event.kind, event.sha256) == (
        document.id,
        "owner-1",
        "passport",
        document.sha256,
    )
    assert s.store.actions(document.id) == [("owner-1", "upload", None)]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (samples.EXE, 415, "unsupported_type"),
        (b"", 422, "empty"),
        (samples.pdf(password="1234"), 422, "encrypted_pdf"),
        (samples.image("JPEG", (640, 480)), 422, "too_small"),
        (samples.hostile_pdf("javascript"), 422, "active_content"),
        (samples.hostile_pdf("embedded_file"), 422, "active_content"),
        (samples.pdf() + samples.docx(), 422, "polyglot"),
        (samples.image("PNG") + samples.html_page(), 422, "polyglot"),
        (samples.html_page() + samples.pdf(), 422, "polyglot"),
    ],
)
async def test_a_bad_file_is_refused_and_nothing_is_stored(
    s: Service, data: bytes, status: int, code: str
) -> None:
    with pytest.raises(Problem) as caught:
        await s.documents.upload(OWNER, "passport", "x.pdf", data)
    assert refused(caught) == (status, [code])
    assert not s.storage.objects
    assert not s.store.documents
    assert not s.store.events


async def test_a_file_we_would_never_take_is_refused_before_it_is_scanned(s: Service) -> None:
    with pytest.raises(Problem):
        await s.documents.upload(OWNER, "passport", "x.gif", samples.gif())
    assert s.scanner.scanned == 0


async def test_malware_is_refused_and_nothing_is_stored(s: Service) -> None:
    s.scanner.threat = "Eicar-Signature"
    with pytest.raises(Problem) as caught:
        await uploaded(s)
    assert refused(caught) == (422, ["malware"])
    assert (s.storage.objects, s.store.documents) == ({}, {})


async def test_with_the_scanner_away_an_upload_is_refused_not_stored(s: Service) -> None:
    s.scanner.down = True
    with pytest.raises(Problem) as caught:
        await uploaded(s)
    assert caught.value.status == 503
    assert "Retry-After" in caught.value.headers
    assert (s.storage.objects, s.store.documents) == ({}, {})


@pytest.mark.parametrize(("kind", "code"), [("", "missing"), ("selfie", "choice")])
async def test_the_kind_is_required_and_known(s: Service, kind: str, code: str) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        await uploaded(s, kind=kind)
    assert [(e.field, e.code) for e in caught.value.errors] == [("kind", code)]
    assert s.scanner.scanned == 0


async def test_someone_elses_document_does_not_exist_for_you(s: Service) -> None:
    document = await uploaded(s)
    for who in (person("stranger"), person("employer-1", "employer")):
        for read in (s.documents.metadata, s.documents.read_content):
            with pytest.raises(Problem) as caught:
                await read(who, document.id, None)
            assert caught.value.status == 404
    with pytest.raises(Problem) as missing:
        await s.documents.metadata(OWNER, "no-such-document", None)
    assert missing.value.status == 404


async def test_staff_see_what_their_role_allows_and_every_read_is_logged(s: Service) -> None:
    document = await uploaded(s)
    with pytest.raises(Problem) as no_reason:
        await s.documents.read_content(OPERATOR, document.id, None)
    assert [e.field for e in no_reason.value.errors] == ["X-Access-Reason"]
    download = await s.documents.read_content(OPERATOR, document.id, "проверка заявления")
    assert download.document == document
    assert await s.documents.metadata(ADMIN, document.id, None) == document
    with pytest.raises(Problem) as admin_content:
        await s.documents.read_content(ADMIN, document.id, None)
    assert admin_content.value.status == 403
    assert s.store.actions(document.id) == [
        ("owner-1", "upload", None),
        ("operator-1", "read_content", "проверка заявления"),
        ("admin-1", "read_metadata", None),
    ]


async def test_a_read_is_logged_before_its_first_byte(s: Service) -> None:
    data = samples.pdf()
    document = await uploaded(s, data)
    download = await s.documents.read_content(OWNER, document.id, None)
    assert s.store.journal == ["log upload", "log read_content", "chunk"]  # one read ahead
    assert b"".join([chunk async for chunk in download.chunks]) == data
    assert s.store.journal.count("chunk") == -(-len(data) // CHUNK)


async def test_missing_bytes_and_an_unreachable_storage_are_problems_before_any_byte(
    s: Service,
) -> None:
    document = await uploaded(s)
    s.storage.down = True
    with pytest.raises(Problem) as unavailable:
        await s.documents.read_content(OWNER, document.id, None)
    assert (unavailable.value.status, unavailable.value.headers["Retry-After"]) == (503, "5")
    s.storage.down = False
    del s.storage.objects[document.id]
    with pytest.raises(Problem) as missing:
        await s.documents.read_content(OWNER, document.id, None)
    assert (missing.value.status, missing.value.code) == (404, "content-missing")
    assert all(p.closed for p in s.storage.opened)  # the reading stopped both times


async def test_an_operator_decides_once_and_events_follow(s: Service) -> None:
    first, second = await uploaded(s), await uploaded(s)
    s.advance(hours=1)
    verified = await s.documents.decide(OPERATOR, first.id, "verified", None)
    assert (verified.status, verified.decided_by, verified.decided_at) == (
        "verified",
        "operator-1",
        s.clock(),
    )
    assert [h.status for h in verified.history] == ["pending_review", "verified"]
    with pytest.raises(Problem) as again:
        await s.documents.decide(OPERATOR, first.id, "rejected", "нечитаемо")
    assert (again.value.status, again.value.extensions) == (409, {"current_state": "verified"})
    rejected = await s.documents.decide(OPERATOR, second.id, "rejected", "Скан нечитаем")
    assert (rejected.status, rejected.reason, rejected.status_label) == (
        "rejected",
        "Скан нечитаем",
        "Отклонён",
    )
    decisions = s.store.events[2:]
    assert decisions == [
        catalog.DocumentVerified(
            document_id=first.id, owner_id="owner-1", verified_by="operator-1"
        ),
        catalog.DocumentRejectedV2(
            document_id=second.id, owner_id="owner-1", rejected_by="operator-1",
            has_reason=True,
        ),
    ]  # fmt: skip
    assert await s.documents.rejection_reason(second.id) == "Скан нечитаем"
    for not_rejected in (first.id, "no-such-document"):
        with pytest.raises(Problem) as missing:
            await s.documents.rejection_reason(not_rejected)
        assert missing.value.status == 404
    assert s.store.actions(second.id)[-1] == ("operator-1", "rejected", "Скан нечитаем")


async def test_only_an_operator_decides_and_only_what_exists(s: Service) -> None:
    document = await uploaded(s)
    with pytest.raises(Problem) as by_citizen:
        await s.documents.decide(OWNER, document.id, "verified", None)
    assert by_citizen.value.status == 403
    with pytest.raises(Problem) as missing:
        await s.documents.decide(OPERATOR, "no-such-document", "verified", None)
    assert missing.value.status == 404
    assert len(s.store.events) == 1  # the upload's only


async def test_a_decision_that_loses_a_race_is_a_conflict(s: Service) -> None:
    document = await uploaded(s)
    other = await s.documents.decide(OPERATOR, (await uploaded(s)).id, "verified", None)
    s.store.racing = replace(other, id=document.id)
    with pytest.raises(Problem) as lost:
        await s.documents.decide(OPERATOR, document.id, "rejected", "нечитаемо")
    assert lost.value.status == 409
    assert s.store.documents[document.id].status == "verified"


async def test_documents_waiting_over_a_day_are_overdue_for_operators(s: Service) -> None:
    old = await uploaded(s)
    s.advance(hours=25)
    fresh = await uploaded(s)
    overdue = await s.documents.list(
        OPERATOR, reason=QUEUE, status=None, overdue=True, limit=100, offset=0
    )
    assert [d.id for d in overdue.items] == [old.id]
    assert all(s.documents.overdue(d) for d in overdue.items)
    on_time = await s.documents.list(
        OPERATOR, reason=QUEUE, status=None, overdue=False, limit=100, offset=0
    )
    assert [d.id for d in on_time.items] == [fresh.id]
    assert not s.documents.overdue(fresh)


async def test_citizens_list_their_own_newest_first_and_staff_all_oldest_first(
    s: Service,
) -> None:
    mine = [await uploaded(s)]
    s.advance(hours=1)
    mine.append(await uploaded(s))
    theirs = await s.documents.upload(person("other"), "benefit", "b.pdf", samples.pdf())
    own = await s.documents.list(OWNER, reason=None, status=None, overdue=None, limit=20, offset=0)
    assert ([d.id for d in own.items], own.total) == ([mine[1].id, mine[0].id], 2)
    everyone = await s.documents.list(
        ADMIN, reason=None, status=None, overdue=None, limit=2, offset=1
    )
    assert ([d.id for d in everyone.items], everyone.total) == ([mine[1].id, theirs.id], 3)
    await s.documents.decide(OPERATOR, mine[0].id, "verified", None)
    verified = await s.documents.list(
        OPERATOR, reason=QUEUE, status="verified", overdue=None, limit=20, offset=0
    )
    assert [d.id for d in verified.items] == [mine[0].id]
    with pytest.raises(Problem) as employer:
        await s.documents.list(
            person("e", "employer"), reason=QUEUE, status=None, overdue=None, limit=20, offset=0
        )
    assert employer.value.status == 403


async def test_an_operator_lists_documents_only_with_a_reason_and_each_one_shown_is_logged(
    s: Service,
) -> None:
    mine = [await uploaded(s), await uploaded(s)]
    theirs = await s.documents.upload(person("other"), "benefit", "b.pdf", samples.pdf())
    with pytest.raises(Problem) as no_reason:
        await s.documents.list(OPERATOR, reason=None, status=None, overdue=None, limit=2, offset=0)
    assert (no_reason.value.status, [e.field for e in no_reason.value.errors]) == (
        422,
        ["X-Access-Reason"],
    )
    page = await s.documents.list(
        OPERATOR, reason=QUEUE, status=None, overdue=None, limit=2, offset=0
    )
    assert [d.id for d in page.items] == [mine[0].id, mine[1].id]
    assert s.store.actions(mine[0].id)[-1] == ("operator-1", "list", QUEUE)
    assert s.store.actions(mine[1].id)[-1] == ("operator-1", "list", QUEUE)
    assert s.store.actions(theirs.id) == [("other", "upload", None)]  # not shown, not logged


async def test_a_citizen_lists_their_own_without_a_reason_and_unlogged(s: Service) -> None:
    document = await uploaded(s)
    own = await s.documents.list(OWNER, reason=None, status=None, overdue=None, limit=20, offset=0)
    assert [d.id for d in own.items] == [document.id]
    assert s.store.actions(document.id) == [("owner-1", "upload", None)]
