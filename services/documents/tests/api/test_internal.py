"""A rejection's reason stays off ``emk.documents`` (issue #13): ``DocumentRejected.v2`` says
only that there is one; notifications, and no other service, reads it through the internal
API with its service token."""

from __future__ import annotations

import uuid

from emk_common import catalog
from emk_testing import TopicTap, eventually, service_token

from .. import samples
from .conftest import DocumentsApp, citizen
from .test_api import OPERATOR, URL, upload

REASON = "Скан нечитаем: загрузите страницу с фотографией."


def as_service(caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(caller, 'documents')}"}


def rejection_path(document_id: str) -> str:
    return f"/internal/v1/documents/{document_id}/rejection"


async def test_notifications_alone_reads_why_a_document_was_rejected(
    documents: DocumentsApp, kafka_bootstrap: str
) -> None:
    owner = citizen()
    async with (
        TopicTap(kafka_bootstrap, catalog.DOCUMENTS, start="latest") as tap,
        documents.client() as http,
    ):
        rejected = (await upload(http, owner, samples.pdf())).json()["id"]
        pending = (await upload(http, owner, samples.pdf())).json()["id"]
        decided = await http.post(
            f"{URL}/{rejected}/reject", headers=OPERATOR.headers, json={"reason": REASON}
        )
        assert decided.status_code == 200, decided.text

        async def published() -> list[str] | None:
            found = [e.type for e in tap.of(rejected)]
            return found if len(found) == 2 else None

        types = await eventually(published, within=30, what="the document's two events")
        [event] = [e for e in tap.of(rejected) if e.type.endswith(".DocumentRejected.v2")]

        found = await http.get(rejection_path(rejected), headers=as_service("notifications"))
        # applications is trusted by no route here (it reads documents as the citizen does).
        applications = await http.get(rejection_path(rejected), headers=as_service("applications"))
        records = await http.get(rejection_path(rejected), headers=as_service("records"))
        anonymous = await http.get(rejection_path(rejected))
        citizen_token = await http.get(rejection_path(rejected), headers=owner.headers)
        unknown = await http.get(
            rejection_path(uuid.uuid4().hex), headers=as_service("notifications")
        )
        not_rejected = await http.get(rejection_path(pending), headers=as_service("notifications"))
    assert types == ["emk.documents.DocumentUploaded.v1", "emk.documents.DocumentRejected.v2"]
    assert event.data == {
        "document_id": rejected,
        "owner_id": owner.user_id,
        "rejected_by": OPERATOR.user_id,
        "has_reason": True,
    }
    assert REASON not in event.to_bytes().decode()
    assert found.status_code == 200, found.text
    assert found.json() == {"document_id": rejected, "reason": REASON}
    for refused, status in (
        (applications, 403), (records, 403), (anonymous, 401), (citizen_token, 401),
        (unknown, 404), (not_rejected, 404),
    ):  # fmt: skip
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert REASON not in refused.text
