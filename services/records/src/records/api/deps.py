"""What the records routes depend on."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from emk_common.auth import Principal, require_roles
from emk_common.problems import FieldError, Problem
from records.service import Records


async def get_records(request: Request) -> Records:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a hop per request for a lookup.
    records: Records = request.app.state.records
    return records


RecordsDep = Annotated[Records, Depends(get_records)]


def _refuse(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _DuplicateKeyError
    return dict(pairs)


class _DuplicateKeyError(ValueError):
    pass


async def single_keyed_body(request: Request) -> None:
    """A signed record is signed as one JSON object: a member named twice (which JSON parsers
    resolve each their own way, and RFC 8785 forbids) is refused, not silently merged."""
    try:
        json.loads(await request.body(), object_pairs_hook=_refuse)
    except _DuplicateKeyError:
        raise Problem.validation(
            [FieldError(field="record", code="duplicate_key",
                        message="Поле «record»: один и тот же ключ указан дважды")]
        ) from None  # fmt: skip
    except ValueError:
        return  # not JSON at all: the body's own validation says so


SingleKeyed = Depends(single_keyed_body)
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
Employer = Annotated[Principal, Depends(require_roles("employer"))]
MedicalWorker = Annotated[Principal, Depends(require_roles("medical_worker"))]
WorkerOrAdmin = Annotated[Principal, Depends(require_roles("medical_worker", "admin"))]
HolderOrWorker = Annotated[Principal, Depends(require_roles("citizen", "medical_worker"))]
StaffReader = Annotated[Principal, Depends(require_roles("medical_worker", "operator"))]
