"""HTTP routes of the records service (prefix ``/api/v1/records``). Thin: each asks the use
cases (``service.py``) and renders the answer (``api/schemas.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from emk_common.auth import AccessReason, CurrentPrincipal
from emk_common.problems import Problem, problem_responses
from records.api.deps import (
    Citizen,
    HolderOrWorker,
    MedicalWorker,
    RecordsDep,
    SingleKeyed,
    StaffReader,
    WorkerOrAdmin,
)
from records.api.schemas import (
    AccessEntryOut,
    AccessLogPage,
    BookPage,
    GrantPage,
    Lookup,
    LookupOut,
    SignedRecord,
    SigningKey,
    StatusPage,
    VisitCodeOut,
    book_view,
    grant_view,
    key_view,
    lookup_view,
    status_view,
)
from records.domain.book import Book
from records.domain.dates import moscow_date
from records.service import Records
from records.views import dumps, joined, record_item

router = APIRouter(prefix="/api/v1/records", tags=["records"])
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_MINE = problem_responses(401, 403, 404)


# --- the holder -------------------------------------------------------------------------------


@router.get("/book", responses={200: {"model": BookPage}, **_MINE}, response_class=Response)
async def own_book(who: Citizen, records: RecordsDep) -> Response:
    """The citizen's own book: status, holder, positions, every record's current version,
    due dates. 404 before the book is issued."""
    book, lists = await records.own_shown(who)
    return _book_page(book, lists, records)


@router.get("/book/records/{record_id}/history", responses=_MINE)
async def own_history(record_id: Id, who: Citizen, records: RecordsDep) -> list[dict[str, Any]]:
    """Every version of a record, oldest first."""
    return _history(await records.own_book(who, records=True), record_id)


@router.post("/book/visit-codes", status_code=201, responses=_MINE)
async def visit_code(who: Citizen, records: RecordsDep) -> VisitCodeOut:
    """A single-use code to show a medical worker: valid 24 hours, opens the book to their
    organisation for 30 days."""
    issued = await records.visit_code(who)
    return VisitCodeOut(code=issued.code, expires_at=issued.expires_at)


@router.get("/book/grants", responses=_MINE)
async def grants(who: Citizen, records: RecordsDep) -> GrantPage:
    """The organisations a lookup opened the book to, and until when (newest first)."""
    book = await records.own_book(who)
    now = records.clock()
    return GrantPage(items=[grant_view(g, now) for g in reversed(book.grants)])


@router.delete("/book/grants/{grant_id}", status_code=204, responses=_MINE)
async def end_grant(grant_id: Id, who: Citizen, records: RecordsDep) -> Response:
    await records.end_grant(who, grant_id)
    return Response(status_code=204)


@router.get("/book/access-log", responses=_MINE)
async def access_log(who: Citizen, records: RecordsDep) -> AccessLogPage:
    """Who read or changed the book, when, from which organisation and why (newest first)."""
    entries = await records.own_access_log(who)
    items = [
        AccessEntryOut(at=e.at, actor_id=e.actor_id, actor_role=e.actor_role,
                       organization_id=e.organization_id, action=e.action, reason=e.reason)
        for e in entries
    ]  # fmt: skip
    return AccessLogPage(items=items)


# --- medical workers and operators ------------------------------------------------------------


@router.post("/books/lookup", responses=problem_responses(401, 403, 404, 422, 429))
async def lookup(body: Lookup, who: MedicalWorker, records: RecordsDep) -> LookupOut:
    """Find a book by the СНИЛС and number the person presents, or by their visit code; it
    opens to the worker's organisation for 30 days. Failed lookups are limited per worker."""
    book = await records.lookup(
        who, snils=body.snils, number=body.number, visit_code=body.visit_code
    )
    return lookup_view(book)


@router.get(
    "/books/{book_id}",
    responses={
        200: {
            "model": BookPage | StatusPage,
            "description": "The book, or for an operator its status",
        },
        **problem_responses(401, 403, 404, 422),
    },
    response_class=Response,
)
async def staff_book(
    book_id: Id, who: StaffReader, reason: AccessReason, records: RecordsDep
) -> Response:
    """A medical worker with a grant reads the book; an operator, with ``X-Access-Reason``,
    its status and due dates only."""
    if who.role == "operator":
        book = await records.operator_view(who, book_id, reason)
        shown = dumps(status_view(book, moscow_date(records.clock())))
        return Response(shown, media_type="application/json", headers=_PRIVATE)
    book, lists = await records.granted_shown(who, book_id)
    await records.log_access(book, who, "read", reason)
    return _book_page(book, lists, records)


@router.get(
    "/books/{book_id}/records/{record_id}/history", responses=problem_responses(401, 403, 404)
)
async def staff_history(
    book_id: Id, record_id: Id, who: HolderOrWorker, reason: AccessReason, records: RecordsDep
) -> list[dict[str, Any]]:
    book: Book
    if who.role == "citizen":
        book = await records.own_book(who, records=True)
        if book.id != book_id:
            raise Problem.not_found("Медицинская книжка не найдена.")
    else:
        book, _ = await records.granted_book(who, book_id, records=True)
        await records.log_access(book, who, "read_history", reason)
    return _history(book, record_id)


@router.post(
    "/books/{book_id}/records",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[SingleKeyed],
)
async def add_record(
    book_id: Id, body: SignedRecord, who: MedicalWorker, records: RecordsDep
) -> dict[str, Any]:
    """A signed record (or a correction: ``replaces`` and ``reason``). The signature is
    Ed25519 over the RFC 8785 form of ``record`` exactly as sent."""
    written = await records.add_record(who, book_id, body.record, body.key_id, body.signature)
    return {"id": written.id, "version": written.version, "record_id": written.record_id}


# --- signing keys -----------------------------------------------------------------------------


@router.put("/me/signing-key", responses=problem_responses(401, 403, 409, 422))
async def register_key(body: SigningKey, who: MedicalWorker, records: RecordsDep) -> dict[str, Any]:
    """The worker's public key (base64url, unpadded, of the raw 32-byte Ed25519 key); only
    within 10 minutes of a login. A new key supersedes the previous one."""
    key = await records.register_key(who, body.public_key)
    return {"key_id": key.id, "state": key.state}


@router.delete("/me/signing-keys/{key_id}", status_code=204, responses=_MINE)
async def revoke_own_key(key_id: Id, who: WorkerOrAdmin, records: RecordsDep) -> Response:
    """Revoke a key (its worker, or an admin). It still verifies what it signed."""
    await records.revoke_key(who, key_id)
    return Response(status_code=204)


@router.get("/signing-keys/{key_id}", responses=problem_responses(401, 404))
async def signing_key(key_id: Id, who: CurrentPrincipal, records: RecordsDep) -> dict[str, Any]:
    """A public key, its worker, organisation and state — to verify any record it signed."""
    return key_view(await records.signing_key(key_id))


_PRIVATE = {"Cache-Control": "no-store"}


def _book_page(book: Book, lists: str, records: Records) -> Response:
    head = book_view(book, moscow_date(records.clock()))
    return Response(joined(head, lists), media_type="application/json", headers=_PRIVATE)


def _history(book: Book, record_id: str) -> list[dict[str, Any]]:
    versions = book.history(record_id)
    if not versions:
        raise Problem.not_found("Запись не найдена.")
    return [record_item(v) for v in versions]
