"""The steps of an application's life through the use cases, for the unit tests: a draft,
its documents, submission, review; and how a refusal reads."""

from __future__ import annotations

from typing import cast

import pytest
from pymongo.asynchronous.client_session import AsyncClientSession

from applications.domain.application import Application
from emk_common.auth import Principal
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem

from .fakes import Rig, bearer, draft, person

CITIZEN = person("citizen-1")
STRANGER = person("citizen-2")
OPERATOR = person("operator-1", "operator")
OTHER_OPERATOR = person("operator-2", "operator")
NO_SESSION = cast(AsyncClientSession, None)  # the fake store needs no transaction


def state(caught: pytest.ExceptionInfo[Problem]) -> tuple[int, object]:
    """A refusal's status and, for a 409, the state it names."""
    return caught.value.status, caught.value.extensions.get("current_state")


def wrong(caught: pytest.ExceptionInfo[InvalidFieldsError]) -> list[tuple[str, str]]:
    """A 422's fields and codes."""
    return [(e.field, e.code) for e in caught.value.errors]


async def drafted(s: Rig, who: Principal = CITIZEN, **changes: object) -> Application:
    s.upstream.ready.add(who.user_id)
    return await s.applications.create(who, bearer(who), draft(**changes))


async def attach(
    s: Rig, application: Application, kind: str, status: str = "pending_review"
) -> Application:
    who = person(application.applicant_id)
    document_id = s.upstream.upload(who, kind, status)
    return await s.applications.attach(who, bearer(who), application.id, document_id, kind)


async def complete(s: Rig, who: Principal = CITIZEN) -> Application:
    application = await drafted(s, who)
    await attach(s, application, "passport")
    return await attach(s, application, "oms_policy")


async def submitted(s: Rig, who: Principal = CITIZEN) -> Application:
    application = await complete(s, who)
    return await s.applications.submit(who, application.id)


async def in_review(s: Rig, operator: Principal = OPERATOR) -> Application:
    application = await submitted(s)
    return await s.applications.take(operator, application.id)


async def clarifying(s: Rig) -> Application:
    application = await in_review(s)
    s.clock.advance(days=1)
    return await s.applications.request_clarification(
        OPERATOR, application.id, "Нечитаемый скан", ["employer.inn"], ["passport"]
    )


async def review(s: Rig, application: Application, status: str) -> None:
    """The documents service's word on every attached document."""
    for attached in application.documents.values():
        await s.applications.document_reviewed(
            attached.document_id, application.applicant_id, status, s.clock(), NO_SESSION
        )
