"""What the records routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from emk_common.auth import Principal, require_roles
from records.service import Records


def get_records(request: Request) -> Records:
    records: Records = request.app.state.records
    return records


RecordsDep = Annotated[Records, Depends(get_records)]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
MedicalWorker = Annotated[Principal, Depends(require_roles("medical_worker"))]
WorkerOrAdmin = Annotated[Principal, Depends(require_roles("medical_worker", "admin"))]
HolderOrWorker = Annotated[Principal, Depends(require_roles("citizen", "medical_worker"))]
StaffReader = Annotated[Principal, Depends(require_roles("medical_worker", "operator"))]
