"""Identity and documents over HTTP (``ports.Upstream``), asked on the caller's behalf with
the caller's own token.

Asking with the citizen's token (not a service token) means the other service applies its
own rules: identity answers about this very account, documents shows only the caller's
own documents — someone else's id is simply not found, exactly as it would be for them.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from applications.ports import OwnDocument, Peer, PeerUnavailableError, SignedOutError

log = logging.getLogger(__name__)


class HttpUpstream:
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
            raise SignedOutError
        return str(body["status"])

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        """The caller's document, or None when it is unknown or someone else's."""
        body = await self._get(
            f"{self._documents}/api/v1/documents/{document_id}", authorization, "documents"
        )
        if body is None:
            return None
        return OwnDocument(document_id=body["id"], kind=body["kind"], status=body["status"])

    async def _get(self, url: str, authorization: str, service: Peer) -> dict[str, Any] | None:
        try:
            response = await self._client.get(url, headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %s", service, type(exc).__name__)
            raise PeerUnavailableError(service) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            raise SignedOutError
        if response.status_code != 200:
            log.warning("%s answered %d", service, response.status_code)
            raise PeerUnavailableError(service)
        body: dict[str, Any] = response.json()
        return body
