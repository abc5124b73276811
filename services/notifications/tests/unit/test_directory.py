"""Identity as the contact directory: an identity that cannot be reached is a failed
attempt worth retrying, named as such."""

from __future__ import annotations

import httpx
import pytest

from notifications.adapters.directory import IdentityDirectory
from notifications.ports import IdentityUnavailableError


async def test_identity_unreachable_is_reported_as_such() -> None:
    # Port 9 (discard) is closed on the test machine: the connection is refused.
    directory = IdentityDirectory("http://127.0.0.1:9", httpx.BasicAuth("-", "-"), timeout=2)
    with pytest.raises(IdentityUnavailableError):
        await directory.contacts("u1")
    await directory.aclose()


async def test_the_region_comes_with_the_contacts() -> None:
    """Identity's answer (``InternalUser``): the region of the registration address, null
    before the personal data is entered."""
    answers = {
        "/internal/v1/users/u54": {
            "contacts": {"phone": "+79990001122", "email": None},
            "first_name": "Анна", "middle_name": None, "region_code": "54",
        },
        "/internal/v1/users/new": {
            "contacts": {"phone": None, "email": None},
            "first_name": "Борис", "middle_name": None, "region_code": None,
        },
    }  # fmt: skip

    def identity(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    directory = IdentityDirectory("http://identity", httpx.BasicAuth("-", "-"), timeout=2)
    directory._client = httpx.AsyncClient(
        base_url="http://identity", transport=httpx.MockTransport(identity)
    )
    anna = await directory.contacts("u54")
    assert (anna.phone, anna.email, anna.region_code) == ("+79990001122", None, "54")
    assert (await directory.contacts("new")).region_code is None
    await directory.aclose()
