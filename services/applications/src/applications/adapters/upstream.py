"""Identity and documents, asked on the caller's behalf with the caller's own token.

Asking with the citizen's token (not a service token) means the other service applies its
own rules: identity answers about this very account, documents shows only the caller's
own documents — someone else's id is simply not found, exactly as it would be for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from emk_common.problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnDocument:
    document_id: str
    kind: str
    status: str


class Upstream:
    def __init__(self, identity_url: str, documents_url: str, timeout: float) -> None:
        self._identity = identity_url.rstrip("/")
        self._documents = documents_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def account_status(self, authorization: str) -> str:
        """The caller's account status in identity at this moment (``ready`` or not yet)."""
        body = await self._get(f"{self._identity}/api/v1/identity/me", authorization, "identity")
        if body is None:  # the account is gone although its token is still valid
            raise Problem(401, code="unauthorized", detail="Войдите в систему заново.")
        return str(body["status"])

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        """The caller's document, or None when it is unknown or someone else's."""
        body = await self._get(
            f"{self._documents}/api/v1/documents/{document_id}", authorization, "documents"
        )
        if body is None:
            return None
        return OwnDocument(document_id=body["id"], kind=body["kind"], status=body["status"])

    async def _get(self, url: str, authorization: str, service: str) -> dict[str, Any] | None:
        try:
            response = await self._client.get(url, headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %s", service, type(exc).__name__)
            raise _unavailable(service) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            raise Problem(401, code="unauthorized", detail="Войдите в систему заново.")
        if response.status_code != 200:
            log.warning("%s answered %d", service, response.status_code)
            raise _unavailable(service)
        body: dict[str, Any] = response.json()
        return body


_NAMES = {"identity": "Сервис учётных записей", "documents": "Сервис документов"}


def _unavailable(service: str) -> Problem:
    return Problem.unavailable(
        f"{_NAMES[service]} временно недоступен, изменения не сохранены. Попробуйте позже.",
        retry_after_seconds=10,
    )
