"""Submission, the operator's work and its permission rules, through the HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from emk_common import catalog
from emk_common.events import Envelope
from emk_testing import eventually

from .conftest import ApplicationsApp, Clock, person, started
from .journey import complete_draft, submitted, taken
from .test_drafts import fields


async def test_submission_lists_every_missing_field_and_document(
    service: ApplicationsApp,
) -> None:
    citizen = service.ready_citizen()
    async with service.client(citizen) as http:
        empty = (await http.post("/api/v1/applications", json={})).json()
        refused = await http.post(f"/api/v1/applications/{empty['id']}/submit")
    assert refused.status_code == 422
    assert fields(refused.json()) == {
        "employer.name",
        "employer.inn",
        "employer.ogrn",
        "employer.legal_address",
        "employer.org_type",
        "employer.ownership",
        "employer.position",
        "oms_policy",
        "consent_personal_data",
        "documents.passport",
        "documents.oms_policy",
    }
    stored = await service.raw(empty["id"])
    assert stored["status"] == "draft"
    assert stored["number"] is None


async def test_a_submitted_application_has_a_number_and_a_working_day_deadline() -> None:
    # 2025-12-30 10:00 Moscow: 5 working days, New Year holidays in between.
    clock = Clock(datetime(2025, 12, 30, 7, 0, tzinfo=UTC))
    async for service in started(clock):
        first = await submitted(service)
        second = await submitted(service)
    assert first["status"] == "submitted"
    assert first["status_label"] == "Принято"
    assert first["due_date"] == "2026-01-16"
    assert first["number"].startswith("2025-")
    assert first["number"] != second["number"]
    assert [h["status"] for h in first["history"]][-1] == "submitted"


async def test_a_submitted_application_cannot_be_submitted_or_edited_again(
    service: ApplicationsApp,
) -> None:
    citizen = service.ready_citizen()
    application = await submitted(service, citizen)
    async with service.client(citizen) as http:
        again = await http.post(f"/api/v1/applications/{application['id']}/submit")
        edit = await http.patch(
            f"/api/v1/applications/{application['id']}", json={"employer": {"position": "Шеф"}}
        )
    assert again.status_code == 409
    assert again.json()["current_state"] == "submitted"
    assert edit.status_code == 409
    assert "«Принято»" in edit.json()["detail"]


async def test_two_operators_take_at_once_and_one_wins(service: ApplicationsApp) -> None:
    application = await submitted(service)
    first, second = person("operator"), person("operator")
    async with service.client(first) as a, service.client(second) as b:
        answers = await asyncio.gather(
            a.post(f"/api/v1/applications/{application['id']}/take"),
            b.post(f"/api/v1/applications/{application['id']}/take"),
        )
    assert sorted(r.status_code for r in answers) == [200, 409]
    winner = next(r for r in answers if r.status_code == 200).json()
    assert winner["status"] == "in_review"
    assert winner["assignee_id"] in {first.user_id, second.user_id}


async def test_operator_actions_are_for_operators_and_the_assignee(
    service: ApplicationsApp,
) -> None:
    application, operator = await taken(service)
    url = f"/api/v1/applications/{application['id']}"
    async with service.client(service.ready_citizen()) as citizen:
        assert (await citizen.post(f"{url}/approve")).status_code == 403
    async with service.client(person("operator")) as other:
        refused = await other.post(f"{url}/reject", json={"reason": "Не тот работодатель"})
    assert refused.status_code == 409
    assert "другого оператора" in refused.json()["detail"]
    async with service.client(operator) as http:
        assert (await http.post(f"{url}/take")).status_code == 409


async def test_clarification_moves_the_deadline_and_the_answer_returns_it(
    service: ApplicationsApp,
) -> None:
    citizen = service.ready_citizen()
    operator = person("operator")
    application = await submitted(service, citizen)
    url = f"/api/v1/applications/{application['id']}"
    async with service.client(operator) as http:
        await http.post(f"{url}/take")
        bad = await http.post(
            f"{url}/request-clarification",
            json={"comment": "Уточните", "fields": ["employer.colour"], "documents": ["selfie"]},
        )
        assert bad.status_code == 422
        assert fields(bad.json()) == {"fields.0", "documents.0"}
        silent = await http.post(f"{url}/request-clarification", json={"comment": " "})
        assert silent.status_code == 422
        assert fields(silent.json()) == {"comment"}
        asked = await http.post(
            f"{url}/request-clarification",
            json={
                "comment": "Скан паспорта нечитаем",
                "fields": ["employer.position"],
                "documents": ["passport"],
            },
        )
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["status"] == "clarification_requested"
    assert body["clarification"]["documents"] == ["passport"]
    assert body["due_date"] > application["due_date"]
    assert body["answer_due"] is not None
    async with service.client(citizen) as http:
        fixed = await http.patch(url, json={"employer": {"position": "Пекарь"}})
        assert fixed.status_code == 200
        answered = await http.post(f"{url}/resubmit", json={"comment": "Исправила"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "in_review"
    assert answered.json()["assignee_id"] == operator.user_id
    labels = [h["status_label"] for h in answered.json()["history"]]
    assert labels[-3:] == ["Требуется уточнение", "Требуется уточнение", "В обработке"]


async def publish_verified(bootstrap: str, owner: str, document_ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for document_id in document_ids:
            event = catalog.DocumentVerified(
                document_id=document_id, owner_id=owner, verified_by=uuid.uuid4().hex
            )
            envelope = Envelope.wrap(event, source="documents", subject=document_id)
            await producer.send_and_wait(
                envelope.topic, envelope.model_dump_json().encode(), key=document_id.encode()
            )
    finally:
        await producer.stop()


async def test_approval_waits_for_every_document_to_be_verified(
    service: ApplicationsApp, kafka_bootstrap: str
) -> None:
    citizen, operator = service.ready_citizen(), person("operator")
    application = await submitted(service, citizen)
    url = f"/api/v1/applications/{application['id']}"
    async with service.client(operator) as http:
        await http.post(f"{url}/take")
        early = await http.post(f"{url}/approve")
        assert early.status_code == 409
        assert "Скан паспорта" in early.json()["detail"]

        documents = [d["document_id"] for d in application["documents"]]
        await publish_verified(kafka_bootstrap, citizen.user_id, documents)

        async def approved() -> dict[str, Any] | None:
            answer = await http.post(f"{url}/approve")
            return dict(answer.json()) if answer.status_code == 200 else None

        done = await eventually(approved, within=30, what="approval after DocumentVerified")
        assert done is not None
    assert done["status"] == "approved"
    assert done["status_label"] == "Одобрено"
    assert {d["status"] for d in done["documents"]} == {"verified"}


async def test_a_rejection_needs_a_reason_and_is_final(service: ApplicationsApp) -> None:
    application, operator = await taken(service)
    url = f"/api/v1/applications/{application['id']}"
    async with service.client(operator) as http:
        silent = await http.post(f"{url}/reject", json={})
        unknown = await http.post(f"{url}/reject", json={"reason": "Ошибка", "fields": ["x"]})
        done = await http.post(
            f"{url}/reject", json={"reason": "ИНН не совпадает", "fields": ["employer.inn"]}
        )
        again = await http.post(f"{url}/reject", json={"reason": "Ещё раз"})
        approve = await http.post(f"{url}/approve")
    assert silent.status_code == 422
    assert fields(silent.json()) == {"reason"}
    assert unknown.status_code == 422
    assert fields(unknown.json()) == {"fields.0"}
    assert done.status_code == 200
    assert done.json()["rejection"] == {
        "reason": "ИНН не совпадает",
        "fields": ["employer.inn"],
        "automatic": False,
    }
    assert again.status_code == 409
    assert approve.status_code == 409


async def test_every_change_stages_its_events_in_the_same_write(service: ApplicationsApp) -> None:
    application, _ = await taken(service)
    stored = await service.raw(application["id"])
    history = [h["status"] for h in stored["history"]]
    assert history[-2:] == ["submitted", "in_review"]
    assert stored["last_changed_at"] == stored["history"][-1]["at"]


async def test_staff_read_with_a_reason_and_every_read_is_logged(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    draft = await complete_draft(service, citizen)
    application = await submitted(service)
    operator = person("operator")
    async with service.client(operator) as http:
        hidden_draft = await http.get(
            f"/api/v1/applications/{draft['id']}", headers={"X-Access-Reason": "x"}
        )
        no_reason = await http.get(f"/api/v1/applications/{application['id']}")
        read = await http.get(
            f"/api/v1/applications/{application['id']}",
            headers={"X-Access-Reason": "%D0%9F%D1%80%D0%BE%D0%B2%D0%B5%D1%80%D0%BA%D0%B0"},
        )
    async with service.client(person("admin")) as admin:
        forbidden = await admin.get(f"/api/v1/applications/{application['id']}")
    assert hidden_draft.status_code == 404
    assert no_reason.status_code == 422
    assert fields(no_reason.json()) == {"X-Access-Reason"}
    assert read.status_code == 200
    assert forbidden.status_code == 403
    log = service.store.access_log.collection
    logged = await log.find_one({"application_id": application["id"]})
    assert logged is not None
    assert logged["actor_id"] == operator.user_id
    assert logged["reason"] == "Проверка"


async def test_each_step_answers_403_for_the_wrong_role_and_404_for_the_unknown(
    service: ApplicationsApp,
) -> None:
    application = await submitted(service)
    url = f"/api/v1/applications/{application['id']}"
    unknown = "/api/v1/applications/" + "0" * 32
    operator_steps = ("take", "request-clarification", "approve", "reject")
    citizen_steps = ("submit", "resubmit", "documents")
    bodies: dict[str, dict[str, Any]] = {
        "request-clarification": {"comment": "Уточните данные"},
        "reject": {"reason": "Неверные данные"},
        "documents": {"document_id": "d", "kind": "passport"},
    }
    async with service.client(service.ready_citizen()) as citizen:
        for step in operator_steps:
            answer = await citizen.post(f"{url}/{step}", json=bodies.get(step, {}))
            assert answer.status_code == 403, step
        for step in citizen_steps:  # someone else's application does not exist for them
            answer = await citizen.post(f"{url}/{step}", json=bodies.get(step, {}))
            assert answer.status_code == 404, step
    async with service.client(person("operator")) as operator:
        for step in citizen_steps:
            answer = await operator.post(f"{url}/{step}", json=bodies.get(step, {}))
            assert answer.status_code == 403, step
        for step in operator_steps:
            answer = await operator.post(f"{unknown}/{step}", json=bodies.get(step, {}))
            assert answer.status_code == 404, step
        assert (await operator.patch(url, json={})).status_code == 403


async def test_an_answer_is_only_for_a_clarification(service: ApplicationsApp) -> None:
    citizen = service.ready_citizen()
    application = await submitted(service, citizen)
    async with service.client(citizen) as http:
        early = await http.post(f"/api/v1/applications/{application['id']}/resubmit")
    assert early.status_code == 409
    assert early.json()["current_state"] == "submitted"
