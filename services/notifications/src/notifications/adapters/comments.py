"""Where the comment of an application's change comes from: applications' internal API.

Since issue #13 ``ApplicationStatusChanged.v2`` carries no free text, only ``has_comment`` and
the change's ``seq``; the comment is asked for while the event is handled and kept with the
notification, as the text of a v1 event was.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from notifications.ports import ApplicationsRefusedError, ApplicationsUnavailableError

log = logging.getLogger(__name__)


class ApplicationComments:
    """``GET {applications_url}/internal/v1/applications/{id}/changes/{seq}/comment`` with
    this service's token."""

    def __init__(self, base_url: str, auth: httpx.Auth, timeout: float) -> None:
        self._base_url = base_url.rstrip("/")
        self._auth = auth
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def comment(self, application_id: str, seq: int) -> str:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._base_url, auth=self._auth, timeout=self._timeout
            )
        path = f"/internal/v1/applications/{quote(application_id, safe='')}/changes/{seq}/comment"
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise ApplicationsUnavailableError(type(exc).__name__) from None
        if response.status_code == 404:
            raise ApplicationsRefusedError("HTTP 404")
        if response.status_code in (401, 403):
            # Our token refused: a key rotation, a clock, a caller missing from applications'
            # settings — the operators' to mend, and the event's to wait for, never to lose.
            log.error("applications refused this service's token (HTTP %d)", response.status_code)
            raise ApplicationsUnavailableError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ApplicationsUnavailableError(f"HTTP {response.status_code}")
        comment = response.json().get("comment")
        if not isinstance(comment, str):
            raise ApplicationsRefusedError("an answer without a comment")
        return comment

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
