"""A session identity ends is refused by all five services within a second or two, not when
its access token expires (15 minutes): identity publishes ``SessionRevoked`` and every replica
of every service reads it (``emk_common.revocation``).

The citizen is the demo journey's, whose book is issued, so that an authenticated read of each
service answers 200 before the session ends (records' ``/book`` is a 404 without a book).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emk_devstack.stack import Stack
from emk_testing import eventually

from .journey import Inbox, bearer, login

# The demo journey's citizen signs in with this password (emk_devstack.demo).
DEMO_PASSWORD = "Снег-на-крыше-2026"
# One authenticated read of each service a citizen may make.
READS = {
    "identity": "/api/v1/identity/me",
    "applications": "/api/v1/applications",
    "documents": "/api/v1/documents",
    "records": "/api/v1/records/book",
    "notifications": "/api/v1/notifications",
}
# The promise is "within a second"; the deadline leaves room for a loaded test machine.
DEADLINE_SECONDS = 2.5


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def signed_in(platform: Stack, demo: tuple[dict[str, Any], list[str]]) -> dict[str, Any]:
    """A new session of the demo's citizen (the demo's own session is left alone)."""
    record, _ = demo
    async with httpx.AsyncClient(base_url=platform.service_url("identity"), timeout=30) as ident:
        return await login(
            ident,
            Inbox(platform.var_dir),
            record["citizen_email"],
            DEMO_PASSWORD,
            channel_target=record["citizen_phone"],
        )


async def answers(
    platform: Stack, http: httpx.AsyncClient, tokens: dict[str, Any]
) -> dict[str, httpx.Response]:
    return {
        service: await http.get(platform.service_url(service) + path, headers=bearer(tokens))
        for service, path in READS.items()
    }


async def refused_everywhere_within_the_deadline(
    platform: Stack, http: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    started = time.monotonic()
    last: dict[str, int] = {}

    async def all_refuse() -> bool:
        found = await answers(platform, http, tokens)
        last.update({service: answer.status_code for service, answer in found.items()})
        return all(status == 401 for status in last.values())

    await eventually(all_refuse, within=DEADLINE_SECONDS, interval=0.05, what="five refusals")
    took = time.monotonic() - started
    assert took < DEADLINE_SECONDS, (took, last)
    for service, answer in (await answers(platform, http, tokens)).items():
        assert answer.status_code == 401, service  # and it stays refused
        assert answer.headers["content-type"] == "application/problem+json", service
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"', service


async def test_after_a_logout_all_five_services_refuse_the_token_within_seconds(
    platform: Stack, http: httpx.AsyncClient, demo: tuple[dict[str, Any], list[str]]
) -> None:
    tokens, other = [await signed_in(platform, demo) for _ in range(2)]
    before = await answers(platform, http, tokens)
    assert {s: a.status_code for s, a in before.items()} == dict.fromkeys(READS, 200)

    out = await http.post(
        platform.service_url("identity") + "/api/v1/identity/logout", headers=bearer(tokens)
    )
    assert out.status_code == 204
    await refused_everywhere_within_the_deadline(platform, http, tokens)
    # Another session of the same citizen goes on.
    still = await answers(platform, http, other)
    assert {s: a.status_code for s, a in still.items()} == dict.fromkeys(READS, 200)


async def test_after_a_refresh_token_is_reused_all_five_refuse_the_familys_tokens(
    platform: Stack, http: httpx.AsyncClient, demo: tuple[dict[str, Any], list[str]]
) -> None:
    first = await signed_in(platform, demo)
    refresh_url = platform.service_url("identity") + "/api/v1/identity/token/refresh"
    rotated = await http.post(refresh_url, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    fresh = rotated.json()
    before = await answers(platform, http, fresh)
    assert {s: a.status_code for s, a in before.items()} == dict.fromkeys(READS, 200)

    reused = await http.post(refresh_url, json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401  # a copy someone kept: the whole family ends
    await refused_everywhere_within_the_deadline(platform, http, fresh)
    await refused_everywhere_within_the_deadline(platform, http, first)
