"""The book as FHIR R5 (``application/fhir+json``): the holder's own, and a book open to a
medical worker's organisation — the same access as ``GET /books/{book_id}``, logged alike."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from emk_common.auth import AccessReason
from emk_common.problems import problem_responses
from records import fhir
from records.api.deps import Citizen, MedicalWorker, RecordsDep

router = APIRouter(prefix="/api/v1/records", tags=["records"])
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_BUNDLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A FHIR R5 Bundle (type collection), validated by fhir.resources",
        "content": {fhir.MEDIA_TYPE: {"schema": {"type": "object"}}},
    }
}
_PRIVATE = {"Cache-Control": "no-store"}


@router.get(
    "/book/fhir",
    responses={**_BUNDLE, **problem_responses(401, 403, 404)},
    response_class=Response,
)
async def own_fhir(who: Citizen, records: RecordsDep) -> Response:
    """The citizen's own book as a FHIR R5 ``Bundle``: every record, its history, its
    signatures, the due dates. 404 before the book is issued."""
    bundle = await records.own_fhir(who)
    return Response(fhir.dumps(bundle), media_type=fhir.MEDIA_TYPE, headers=_PRIVATE)


@router.get(
    "/books/{book_id}/fhir",
    responses={**_BUNDLE, **problem_responses(401, 403, 404, 422)},
    response_class=Response,
)
async def staff_fhir(
    book_id: Id, who: MedicalWorker, reason: AccessReason, records: RecordsDep
) -> Response:
    """A book open to the worker's organisation (a lookup's grant) as a FHIR R5 ``Bundle``;
    outside a grant 404. Written to the holder's access log (``read_fhir``)."""
    bundle = await records.granted_fhir(who, book_id, reason)
    return Response(fhir.dumps(bundle), media_type=fhir.MEDIA_TYPE, headers=_PRIVATE)
