"""A change's comment stays off ``emk.applications`` (issue #13): the v2 events say only that
there is one and where it is (``seq``); notifications, and no other service, reads it through
the internal API with its service token."""

from __future__ import annotations

import uuid
from typing import Any

from emk_testing import service_token

from .conftest import ApplicationsApp, Published
from .journey import taken

COMMENT = "Скан паспорта нечитаем: загрузите разворот с фотографией."
REASON = "Паспорт другого человека."


def as_service(caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(caller, 'applications')}"}


def comment_path(application_id: str, seq: int) -> str:
    return f"/internal/v1/applications/{application_id}/changes/{seq}/comment"


async def test_notifications_alone_reads_a_clarifications_comment(
    service: ApplicationsApp, published: Published
) -> None:
    application, operator = await taken(service)
    url = f"/api/v1/applications/{application['id']}"
    async with service.client(operator) as http:
        asked = await http.post(
            f"{url}/request-clarification", json={"comment": COMMENT, "documents": ["passport"]}
        )
    assert asked.status_code == 200, asked.text
    changes = await published.wait(application["id"], "ApplicationStatusChanged", count=3)
    [event] = [e for e in changes if e.data["status"] == "clarification_requested"]
    assert event.type == "emk.applications.ApplicationStatusChanged.v2"
    assert (event.data["has_comment"], "comment" in event.data) == (True, False)
    assert COMMENT not in event.to_bytes().decode()
    [took] = [e for e in changes if e.data["status"] == "in_review"]
    seq = event.data["seq"]
    stored = await service.raw(application["id"])
    assert stored["history"][seq]["comment"] == COMMENT

    async with service.client() as http:
        found = await http.get(
            comment_path(application["id"], seq), headers=as_service("notifications")
        )
        # records is a trusted caller of the API, but not of this route; documents of none.
        records = await http.get(
            comment_path(application["id"], seq), headers=as_service("records")
        )
        documents = await http.get(
            comment_path(application["id"], seq), headers=as_service("documents")
        )
        anonymous = await http.get(comment_path(application["id"], seq))
        unknown = await http.get(
            comment_path(uuid.uuid4().hex, seq), headers=as_service("notifications")
        )
        beyond = await http.get(
            comment_path(application["id"], seq + 1), headers=as_service("notifications")
        )
        negative = await http.get(
            comment_path(application["id"], -1), headers=as_service("notifications")
        )
        # Taking it changed the status without a comment: nothing to read there.
        silent = await http.get(
            comment_path(application["id"], took.data["seq"]), headers=as_service("notifications")
        )
        # notifications may read comments, not the employer and position.
        employment = await http.get(
            f"/internal/v1/applications/{application['id']}/employment",
            headers=as_service("notifications"),
        )
    assert found.status_code == 200, found.text
    assert found.json() == {
        "application_id": application["id"],
        "seq": seq,
        "status": "clarification_requested",
        "comment": COMMENT,
    }
    assert took.data["has_comment"] is False
    for refused, status in (
        (records, 403), (documents, 403), (employment, 403), (anonymous, 401),
        (unknown, 404), (beyond, 404), (negative, 404), (silent, 404),
    ):  # fmt: skip
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert COMMENT not in refused.text


async def test_a_rejections_reason_is_read_by_the_seq_of_its_events(
    service: ApplicationsApp, published: Published
) -> None:
    application, operator = await taken(service)
    async with service.client(operator) as http:
        rejected = await http.post(
            f"/api/v1/applications/{application['id']}/reject",
            json={"reason": REASON, "fields": ["documents.passport"]},
        )
    assert rejected.status_code == 200, rejected.text
    [event] = await published.wait(application["id"], "ApplicationRejected")
    changes = await published.wait(application["id"], "ApplicationStatusChanged", count=3)
    [changed] = [e for e in changes if e.data["status"] == "rejected"]
    data: dict[str, Any] = event.data
    assert event.type == "emk.applications.ApplicationRejected.v2"
    assert (data["has_reason"], data["fields"], data["automatic"]) == (
        True,
        ["documents.passport"],
        False,
    )
    assert "reason" not in data
    assert data["seq"] == changed.data["seq"]
    assert REASON not in event.to_bytes().decode() + changed.to_bytes().decode()
    async with service.client() as http:
        found = await http.get(
            comment_path(application["id"], data["seq"]), headers=as_service("notifications")
        )
    assert found.status_code == 200, found.text
    assert (found.json()["status"], found.json()["comment"]) == ("rejected", REASON)
