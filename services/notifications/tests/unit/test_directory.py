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
