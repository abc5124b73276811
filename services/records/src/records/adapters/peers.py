"""Identity's and applications' internal APIs, asked with this service's own token."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx

from emk_common.service_auth import ServiceAuth, ServiceTokenIssuer
from records.domain.book import Holder
from records.ports import (
    Employment,
    HolderData,
    PeerRefusedError,
    PeerUnavailableError,
    StaffMember,
)

log = logging.getLogger(__name__)


class _Peer:
    def __init__(self, base_url: str, issuer: ServiceTokenIssuer, audience: str, timeout: float):
        self._name = audience
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), auth=ServiceAuth(issuer, audience), timeout=timeout
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, path: str) -> dict[str, Any]:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise PeerUnavailableError(f"{self._name}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise PeerRefusedError(f"{self._name}: 404")
        if response.status_code >= 500 or response.status_code == 429:
            raise PeerUnavailableError(f"{self._name}: {response.status_code}")
        if response.status_code != 200:
            # 401/403: our token or their trust list is wrong — a deployment error, loud.
            log.error("%s answered %d to the records service", self._name, response.status_code)
            raise PeerUnavailableError(f"{self._name}: {response.status_code}")
        body: dict[str, Any] = response.json()
        return body


class IdentityPeople:
    def __init__(self, url: str, issuer: ServiceTokenIssuer, timeout: float) -> None:
        self._peer = _Peer(url, issuer, "identity", timeout)

    async def close(self) -> None:
        await self._peer.close()

    async def holder(self, user_id: str) -> HolderData:
        body = await self._peer.get(f"/internal/v1/users/{user_id}/holder")
        return HolderData(
            holder=Holder(
                last_name=body["last_name"],
                first_name=body["first_name"],
                middle_name=body.get("middle_name"),
                birth_date=date.fromisoformat(body["birth_date"]),
                snils=body["snils"],
            ),
            region_code=body["region_code"],
        )

    async def staff(self, user_id: str) -> StaffMember:
        body = await self._peer.get(f"/internal/v1/users/{user_id}")
        name = " ".join(
            p for p in (body.get("last_name"), body.get("first_name"), body.get("middle_name")) if p
        )
        return StaffMember(
            user_id=body["user_id"],
            role=body["role"],
            organization_id=body.get("organization_id"),
            name=name,
        )


class ApplicationsEmployments:
    def __init__(self, url: str, issuer: ServiceTokenIssuer, timeout: float) -> None:
        self._peer = _Peer(url, issuer, "applications", timeout)

    async def close(self) -> None:
        await self._peer.close()

    async def employment(self, application_id: str) -> Employment:
        body = await self._peer.get(f"/internal/v1/applications/{application_id}/employment")
        return Employment(
            application_id=body["application_id"],
            applicant_id=body["applicant_id"],
            employer_name=body.get("employer_name"),
            employer_inn=body.get("employer_inn"),
            position=body.get("position"),
            department=body.get("department"),
        )
