"""The reasons of a person's data accesses, asked of the service that keeps them
(``emk_common.access_feed``: ``GET /internal/v1/access-log/reasons``) with identity's token."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from emk_common.service_auth import ServiceAuth, ServiceTokenIssuer
from identity.ports import ReasonsUnavailableError

log = logging.getLogger(__name__)

PATH = "/internal/v1/access-log/reasons"


class HttpAccessReasons:
    """One client per service; ``clients`` lets a test hand in its own (an ASGI transport)."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient]) -> None:
        self._clients = dict(clients)

    @classmethod
    def of(
        cls, urls: Mapping[str, str], issuer: ServiceTokenIssuer, timeout: float
    ) -> HttpAccessReasons:
        return cls(
            {
                service: httpx.AsyncClient(
                    base_url=url.rstrip("/"), auth=ServiceAuth(issuer, service), timeout=timeout
                )
                for service, url in urls.items()
            }
        )

    async def reasons(
        self, service: str, owner_id: str, entry_ids: list[str]
    ) -> dict[str, str | None]:
        client = self._clients.get(service)
        if client is None:
            raise ReasonsUnavailableError(f"{service}: no address")
        try:
            params = httpx.QueryParams([("owner", owner_id), *(("id", i) for i in entry_ids)])
            response = await client.get(PATH, params=params)
        except httpx.HTTPError as exc:
            raise ReasonsUnavailableError(f"{service}: {type(exc).__name__}") from None
        if response.status_code != 200:
            if response.status_code in (401, 403):  # a deployment error: loud
                log.error("%s refused identity the access reasons (%d)", service,
                          response.status_code)  # fmt: skip
            raise ReasonsUnavailableError(f"{service}: {response.status_code}")
        try:
            items = response.json()["items"]
            return {str(i["id"]): i.get("reason") for i in items}
        except (ValueError, KeyError, TypeError):
            raise ReasonsUnavailableError(f"{service}: unreadable answer") from None

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
