"""What applications' answers mean to the comments adapter: only "no such change" is a refusal
(the event is dead-lettered); a refused token, a limit or an error is an outage (retried)."""

from __future__ import annotations

import httpx
import pytest

from notifications.adapters.comments import ApplicationComments
from notifications.ports import ApplicationsRefusedError, ApplicationsUnavailableError


def comments(status: int, body: dict[str, object] | None = None) -> ApplicationComments:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path == b"/internal/v1/applications/a%2F1/changes/3/comment"
        return httpx.Response(status, json=body or {})

    adapter = ApplicationComments("http://applications", httpx.Auth(), 1.0)
    adapter._client = httpx.AsyncClient(
        base_url="http://applications", transport=httpx.MockTransport(answer)
    )
    return adapter


async def test_a_comment_is_read() -> None:
    assert await comments(200, {"comment": "Уточните должность."}).comment("a/1", 3) == (
        "Уточните должность."
    )


async def test_no_such_change_is_a_refusal() -> None:
    with pytest.raises(ApplicationsRefusedError):
        await comments(404).comment("a/1", 3)


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
async def test_a_refused_token_a_limit_or_an_error_is_waited_out(status: int) -> None:
    with pytest.raises(ApplicationsUnavailableError):
        await comments(status).comment("a/1", 3)
