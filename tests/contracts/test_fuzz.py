"""Schemathesis against every service's own OpenAPI (issue #15): no answer is a 5xx, and every
answer is what the document says — a documented status, its media type, its body schema.

Each service runs as a real process (the ``platform`` fixture) and is called on its own port,
not through the gateway, with the document it serves at ``/openapi.json``. Every operation is
fuzzed as a real citizen (registered, both contacts confirmed from the SMS spool and the
Maildir, logged in with two factors, personal data filled in) and as an operator the bootstrap
admin made (who sends ``X-Access-Reason`` whenever the generated request does not carry one):
``EXAMPLES`` requests an operation and role, positive and negative data drawn from one fixed
seed, so a run is repeatable and bounded (its time is printed).

The fuzzer's requests come, by ``X-Forwarded-For`` (the stack trusts the loopback, where the
gateway sits), from an address of their own: the per-address rate limits it runs into are its
own buckets, not those of the tests that share the platform after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation as _APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack
from tests.e2e.journey import Inbox, bearer, login, new_person
from tests.e2e.test_identity_journey import register_ready_citizen

from .support import OPENAPI

APIOperation = _APIOperation[Any, Any, Any, Any]
RequestCase = Case[Any]

EXAMPLES = 20
SEED = 15
# An address of the documentation range (RFC 5737): the fuzzer's own rate-limit buckets.
FUZZER_ADDRESS = "198.51.100.15"
# Percent-encoded UTF-8, as the header carries Russian text (``emk_common.auth.access_reason``).
REASON = quote("Проверка соответствия API его описанию")
# Values that break services unless the schema bounds them or the code refuses them: a
# number past 64 bits (a database's skip or limit), a NUL byte (C strings, MongoDB keys), a
# segment longer than any identifier, text outside the BMP with a right-to-left mark.
HOSTILE_TEXT = (
    "99999999999999999999",
    "-99999999999999999999",
    "\x00",
    "я" * 1000,
    "\U0010ffff\u202e",
)
HOSTILE_HEADER = ("99999999999999999999", "x" * 4000)
HOSTILE_JSON: tuple[Any, ...] = (10**20, -(10**20), "\x00", "я" * 5000, "\U0010ffff\u202e", [], {})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Ends the session every other request of the role is made in: fuzzed after all the rest.
LAST = {("identity", "POST", "/api/v1/identity/logout")}


@dataclass(frozen=True)
class Caller:
    """Who sends the requests: a role and the headers that make a request theirs."""

    role: str
    headers: dict[str, str]

    def headers_for(self, case: RequestCase) -> dict[str, str]:
        headers = {**self.headers, "X-Forwarded-For": FUZZER_ADDRESS}
        generated = {name.lower() for name in case.headers or {}}
        if self.role == "operator" and "x-access-reason" not in generated:
            headers["X-Access-Reason"] = REASON
        return headers


@dataclass
class Findings:
    """What the fuzzer found: one entry per operation, role and kind of failure."""

    seen: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    def add(
        self, caller: Caller, operation: APIOperation, status: int, group: FailureGroup
    ) -> None:
        for failure in group.exceptions:
            where = f"{operation.method.upper()} {operation.path}"
            key = f"{caller.role}: {where}: {failure.title} ({status})"
            self.seen.setdefault(key, str(group))

    def fail(self, caller: Caller, operation: APIOperation, exc: Exception) -> None:
        where = f"{operation.method.upper()} {operation.path}"
        self.seen.setdefault(f"{caller.role}: {where}: {type(exc).__name__}", repr(exc))


def fuzz_operation(
    operation: APIOperation,
    caller: Caller,
    base_url: str,
    session: requests.Session,
    findings: Findings,
) -> None:
    """Schemathesis's deterministic coverage cases of one operation (each parameter and body
    member at its bounds and just past them, missing, of the wrong type, …), then
    ``EXAMPLES`` generated ones; every answer checked."""

    def send(case: RequestCase) -> int:
        headers = caller.headers_for(case)
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        findings.requests += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            findings.add(caller, operation, response.status_code, group)
        return response.status_code

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # a failure is reported, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation))
    def generated(case: RequestCase) -> None:
        send(case)

    try:
        coverage = list(_coverage(operation))
        # A valid request the route refuses this caller (no token it takes, not their role)
        # says the same of every other: FastAPI checks who calls before it validates.
        refused = (401, 403) if operation.definition.raw.get("security") else ()
        if coverage and send(coverage[0]) not in refused:
            for case in [*coverage[1:], *_hostile(operation, coverage[0])]:
                send(case)
        generated()
    except Exception as exc:  # the request itself failed: the service dropped it, say
        findings.fail(caller, operation, exc)


def _hostile(operation: APIOperation, base: RequestCase) -> Iterator[RequestCase]:
    """``base`` (a valid request) with one parameter, or one member of its JSON body, set to
    a value known to break services (``HOSTILE_*``): what the coverage cases leave
    out when the schema sets no bound."""
    places = {
        "path": ("path_parameters", HOSTILE_TEXT),
        "query": ("query", HOSTILE_TEXT),
        "header": ("headers", HOSTILE_HEADER),
    }
    for parameter in operation.iter_parameters():
        where, values = places.get(str(parameter.location.value), ("", ()))
        for value in values:
            changed = {**dict(getattr(base, where) or {}), parameter.name: value}
            yield _variant(operation, base, **{where: changed})
    if isinstance(base.body, dict) and base.media_type and "json" in base.media_type:
        for name in base.body:
            for value in HOSTILE_JSON:
                yield _variant(operation, base, body={**base.body, name: value})


def _variant(operation: APIOperation, base: RequestCase, **changed: Any) -> RequestCase:
    fields: dict[str, Any] = {
        "path_parameters": dict(base.path_parameters or {}),
        "query": dict(base.query or {}),
        "headers": dict(base.headers or {}),
        "body": base.body,
        "media_type": base.media_type,
    }
    return operation.Case(**{**fields, **changed})


def _coverage(operation: APIOperation) -> Iterator[RequestCase]:
    schema = operation.schema
    cases: Iterator[RequestCase] = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )
    return cases


def _strategy(operation: APIOperation) -> st.SearchStrategy[RequestCase]:
    """Valid and invalid requests alike: the service must answer both within its contract."""
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


def fuzz_service(
    base_url: str, service: str, callers: Sequence[Caller], findings: Findings
) -> list[Callable[[], None]]:
    """Fuzz every operation of ``service`` as each caller; what must run last is returned."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"{service}: an operation schemathesis cannot read"
        operations.append(result.ok())
    later: list[Callable[[], None]] = []
    with requests.Session() as session:
        for index, caller in enumerate(callers):
            for operation in operations:
                if index > 0 and not operation.definition.raw.get("security"):
                    continue  # public: the same to every caller, fuzzed once
                if (service, operation.method.upper(), operation.path) in LAST:
                    later.append(_deferred(operation, caller, base_url, findings))
                    continue
                fuzz_operation(operation, caller, base_url, session, findings)
    return later


def _deferred(
    operation: APIOperation, caller: Caller, base_url: str, findings: Findings
) -> Callable[[], None]:
    def run() -> None:
        with requests.Session() as session:
            fuzz_operation(operation, caller, base_url, session, findings)

    return run


def fuzz_platform(urls: dict[str, str], callers: list[Caller]) -> Findings:
    """Every service, every operation, every caller; the session enders at the very end."""
    findings = Findings()
    later: list[Callable[[], None]] = []
    for service in SERVICES:
        started, sent = time.monotonic(), findings.requests
        later += fuzz_service(urls[service], service, callers, findings)
        took = time.monotonic() - started
        print(f"{service}: {findings.requests - sent} requests in {took:.0f} s")
    for run in later:
        run()
    return findings


# --- the callers ------------------------------------------------------------------------------


async def citizen_and_operator(
    identity: httpx.AsyncClient, inbox: Inbox, env: dict[str, str]
) -> list[Caller]:
    """A citizen who went the whole way to ``ready``, and an operator the admin made."""
    _, citizen, _ = await register_ready_citizen(identity, inbox)
    admin_email = env["EMK_BOOTSTRAP_ADMIN_EMAIL"]
    admin = await login(
        identity,
        inbox,
        admin_email,
        env["EMK_BOOTSTRAP_ADMIN_PASSWORD"],
        channel_target=admin_email,
    )
    staff = new_person()
    made = await identity.post(
        "/api/v1/identity/staff",
        headers=bearer(admin),
        json={
            "role": "operator",
            "last_name": "Проверкина",
            "first_name": "Ольга",
            "email": staff["email"],
            "phone": staff["phone"],
            "password": staff["password"],
        },
    )
    assert made.status_code == 201, made.text
    operator = await login(
        identity, inbox, staff["email"], staff["password"], channel_target=staff["email"]
    )
    return [Caller("citizen", bearer(citizen)), Caller("operator", bearer(operator))]


@pytest.fixture(scope="module")
async def callers(platform: Stack) -> AsyncIterator[list[Caller]]:
    url = platform.service_url("identity")
    async with httpx.AsyncClient(base_url=url, timeout=30) as identity:
        yield await citizen_and_operator(identity, Inbox(platform.var_dir), platform.env)


def test_no_request_breaks_a_service_or_its_contract(
    platform: Stack, callers: list[Caller]
) -> None:
    started = time.monotonic()
    urls = {service: platform.service_url(service) for service in SERVICES}
    findings = fuzz_platform(urls, callers)
    elapsed = time.monotonic() - started
    print(f"fuzzed: {findings.requests} requests in {elapsed:.0f} s")
    assert findings.requests > 0
    assert not findings.seen, "\n\n".join(
        [f"{len(findings.seen)} kinds of failure:", *findings.seen, *findings.seen.values()]
    )


def test_every_operation_documents_what_the_shared_machinery_answers() -> None:
    """Without a server: the published document has the statuses ``emk_common`` answers for
    every route of a kind (``emk_common.problems.openapi``), each a problem document."""
    document = json.loads(OPENAPI.read_text("utf-8"))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            if operation.get("security"):
                assert "401" in responses, where
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= set(responses), where
            if "{" in path:
                assert "404" in responses, where
            if "429" in responses and "content" in responses["429"]:
                assert "Retry-After" in responses["429"]["headers"], where
            for status, response in responses.items():
                if status.startswith("4") and "content" in response:
                    assert list(response["content"]) == ["application/problem+json"], where
