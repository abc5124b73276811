"""Where a person's contacts come from at send time: identity's internal API.

Contacts are never stored here; they live in memory for one delivery. Identity answers
``null`` for a phone or e-mail the person has not verified, and for the region of the
registration address before the personal data is entered.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from notifications.domain.texts import addressee
from notifications.ports import Contacts, IdentityRefusedError, IdentityUnavailableError


class IdentityDirectory:
    """``GET {identity_url}/internal/v1/users/{id}`` with this service's token."""

    def __init__(self, base_url: str, auth: httpx.Auth, timeout: float) -> None:
        self._base_url = base_url.rstrip("/")
        self._auth = auth
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def contacts(self, user_id: str) -> Contacts:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._base_url, auth=self._auth, timeout=self._timeout
            )
        try:
            response = await self._client.get(f"/internal/v1/users/{quote(user_id, safe='')}")
        except httpx.HTTPError as exc:
            raise IdentityUnavailableError(type(exc).__name__) from None
        if response.status_code >= 500:
            raise IdentityUnavailableError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise IdentityRefusedError(f"HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        contacts = body.get("contacts") or {}
        return Contacts(
            phone=contacts.get("phone") or None,
            email=contacts.get("email") or None,
            addressee=addressee(body.get("first_name"), body.get("middle_name")),
            region_code=body.get("region_code") or None,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
