"""The book: records reads an approved application's employer and position, and its
``MedicalBookIssued`` moves the application to «Готово к выдаче» with the book's number."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from emk_common import catalog
from emk_common.events import Envelope
from emk_testing import TopicTap, eventually, service_token

from .conftest import EMPLOYER, ApplicationsApp, person
from .journey import submitted
from .test_review import publish_verified


def as_service(caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(caller, 'applications')}"}


async def approved(service: ApplicationsApp, kafka_bootstrap: str) -> dict[str, Any]:
    citizen, operator = service.ready_citizen(), person("operator")
    application = await submitted(service, citizen)
    url = f"/api/v1/applications/{application['id']}"
    await publish_verified(
        kafka_bootstrap, citizen.user_id, [d["document_id"] for d in application["documents"]]
    )
    async with service.client(operator) as http:
        await http.post(f"{url}/take")

        async def approve() -> dict[str, Any] | None:
            answer = await http.post(f"{url}/approve")
            return dict(answer.json()) if answer.status_code == 200 else None

        done = await eventually(approve, within=30, what="the approval")
    assert done is not None
    return done


async def publish(bootstrap: str, event: catalog.MedicalBookIssued) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        envelope = Envelope.wrap(event, source="records", subject=event.book_id)
        await producer.send_and_wait(
            envelope.topic, envelope.to_bytes(), key=event.book_id.encode()
        )
    finally:
        await producer.stop()


async def test_records_alone_reads_the_employer_and_position(service: ApplicationsApp) -> None:
    application = await submitted(service)
    path = f"/internal/v1/applications/{application['id']}/employment"
    async with service.client() as http:
        found = await http.get(
            path, headers={"Authorization": f"Bearer {service_token('records', 'applications')}"}
        )
        foreign = await http.get(
            path, headers={"Authorization": f"Bearer {service_token('documents', 'applications')}"}
        )
        # notifications is a trusted caller of the API, for the comments only.
        notifications = await http.get(
            path,
            headers={"Authorization": f"Bearer {service_token('notifications', 'applications')}"},
        )
        unknown = await http.get(
            f"/internal/v1/applications/{uuid.uuid4().hex}/employment",
            headers={"Authorization": f"Bearer {service_token('records', 'applications')}"},
        )
    assert found.status_code == 200
    assert found.json() == {
        "application_id": application["id"],
        "applicant_id": application["applicant_id"],
        "status": "submitted",
        "employer_name": EMPLOYER["name"],
        "employer_inn": EMPLOYER["inn"],
        "department": None,
        "position": EMPLOYER["position"],
    }
    assert foreign.status_code == 403
    assert notifications.status_code == 403
    assert unknown.status_code == 404


async def test_the_issued_book_makes_the_application_ready(
    service: ApplicationsApp, kafka_bootstrap: str, published: TopicTap
) -> None:
    application = await approved(service, kafka_bootstrap)
    book_id = uuid.uuid4().hex
    issued = catalog.MedicalBookIssued(
        book_id=book_id,
        holder_id=application["applicant_id"],
        number="77-01-000123-26",
        application_id=application["id"],
    )
    await publish(kafka_bootstrap, issued)
    await publish(kafka_bootstrap, issued)  # delivered twice: one change

    async def ready() -> Any:
        found = await service.raw(application["id"])
        return found if found["status"] == "issued" else None

    done = await eventually(ready, within=30, what="the application to be issued")
    assert done["book"] == {"id": book_id, "number": "77-01-000123-26"}
    assert done["history"][-1]["status_label"] == "Готово к выдаче"
    assert done["history"][-1]["comment"] == "Медицинская книжка № 77-01-000123-26"
    changes = await published.wait(application["id"], "ApplicationStatusChanged", count=4)
    assert changes[-1].data["status"] == "issued"
    assert changes[-1].data["book_number"] == "77-01-000123-26"
    assert [h["status"] for h in done["history"]].count("issued") == 1
