"""``X-Request-Id``: taken when well formed, made otherwise, returned, and on the log lines
written while the request is handled."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emk_common.logging import JsonFormatter
from emk_common.request_id import RequestIdMiddleware

log = logging.getLogger("emk.test.request_id")


async def _hello(request: Request) -> PlainTextResponse:
    log.warning("handling")
    return PlainTextResponse("hi", headers={"X-Request-Id": "the app's own"})


APP = RequestIdMiddleware(Starlette(routes=[Route("/", _hello)]))


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        return await http.get("/", headers=headers)


async def test_a_well_formed_id_is_kept_and_returned_once() -> None:
    answer = await _get({"X-Request-Id": "req-123.abc"})
    assert answer.headers.get_list("X-Request-Id") == ["req-123.abc"]


@pytest.mark.parametrize("given", [None, "x" * 129, "bad id", "a;b", "<script>"])
async def test_a_missing_or_malformed_id_is_replaced_by_a_new_one(given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given}
    answer = await _get(headers)
    [made] = answer.headers.get_list("X-Request-Id")
    assert re.fullmatch(r"[0-9a-f]{32}", made)


class _Lines(logging.Handler):
    """Formats each record as it is written, as the services' stderr handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_the_log_lines_of_a_request_carry_its_id() -> None:
    lines = _Lines()
    log.addHandler(lines)
    try:
        await _get({"X-Request-Id": "trace-me"})
        log.warning("after the request")
    finally:
        log.removeHandler(lines)
    [during] = [line for line in lines.lines if line["message"] == "handling"]
    assert during["request_id"] == "trace-me"
    [after] = [line for line in lines.lines if line["message"] == "after the request"]
    assert "request_id" not in after
