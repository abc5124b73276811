"""What the documents routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from documents.service import Documents
from emk_common.auth import Principal, require_roles


async def get_documents(request: Request) -> Documents:
    documents: Documents = request.app.state.documents
    return documents


DocumentsDep = Annotated[Documents, Depends(get_documents)]
Operator = Annotated[Principal, Depends(require_roles("operator"))]
Citizen = Annotated[Principal, Depends(require_roles("citizen"))]
