"""The printable extract of the holder's book: ``GET /api/v1/records/book/extract.pdf``.

A PDF (``adapters/extract_pdf.py``) with the QR of a new share code made for it; it is
rendered off the event loop (about a tenth of a second of CPU: fonts, subsetting, the QR).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from emk_common.problems import problem_responses
from records.adapters.extract_pdf import render_extract
from records.adapters.qr import qr_png
from records.api.deps import Citizen, RecordsDep
from records.domain.extract import Extract

router = APIRouter(prefix="/api/v1/records", tags=["extract"])


@router.get(
    "/book/extract.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The extract, a PDF"},
        **problem_responses(401, 403, 404, 409),
    },
)
async def extract(who: Citizen, records: RecordsDep) -> Response:
    """The holder's book on paper: holder, number, status, exams, hygiene attestation,
    vaccinations, the date made, and the QR of a new 30-day share code (listed with the
    holder's codes; ``409`` when the holder has the most live codes allowed)."""
    made = await records.extract(who)
    pdf = await asyncio.to_thread(_render, made)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{made.file_name}"',
            "Cache-Control": "no-store",
        },
    )


def _render(made: Extract) -> bytes:
    return render_extract(made, qr_png(made.url))
