"""Nothing is lost when the local stack stops: a journey stopped mid-flow — with an event
still waiting in an outbox because Kafka was away — goes on after a restart, and finds every
account, application, document's bytes and notification, and the waiting event delivered."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from emk_devstack.demo import Delivered, Journey, scan_pdf, valid_snils
from emk_devstack.stack import Ports, Stack
from emk_testing import eventually


async def citizen_with_a_submitted_application(journey: Journey, var_dir: Path) -> dict[str, Any]:
    delivered = Delivered(var_dir)
    person = {
        "last_name": "Сохранова", "first_name": "Вера", "birth_date": "1990-05-17", "sex": "F",
        "phone": f"+79{uuid.uuid4().int % 10**9:09d}",
        "email": f"vera.{uuid.uuid4().hex[:8]}@example.ru",
        "password": "Ничего-не-потеряно-2026", "snils": valid_snils(),
    }  # fmt: skip
    user = await journey.call("POST", "identity", "/register", json=person, expect=201)
    for channel, to in (("sms", person["phone"]), ("email", person["email"])):
        code = await delivered.code(to, 0)
        verification = {"user_id": user["user_id"], "channel": channel, "code": code}
        await journey.call("POST", "identity", "/contacts/verify", json=verification)
    token = await journey.login(person["email"], person["password"], person["phone"])
    await journey.call("PUT", "identity", "/me/personal-data", token=token, json={
        "passport": {"series": "4509", "number": f"{uuid.uuid4().int % 10**6:06d}",
                     "issued_at": "2012-06-01", "issued_by": "ОВД", "division_code": "770-001"},
        "birth_place": "г. Москва",
        "registration_address": {"region_code": "77", "locality": "г. Москва",
                                 "street": "ул. Тверская", "house": "7"},
    })  # fmt: skip
    scans = {}
    for kind in ("passport", "oms_policy"):
        data = scan_pdf(f"Scan {kind}")
        document = await journey.call(
            "POST", "documents", "", token=token, expect=201,
            files={"file": (f"{kind}.pdf", data, "application/pdf")}, data={"kind": kind},
        )  # fmt: skip
        scans[kind] = (document["id"], hashlib.sha256(data).hexdigest())
    draft = await journey.call("POST", "applications", "", token=token, expect=201, json={
        "employer": {"inn": "7710543822", "ogrn": "1197746318527", "org_type": "head_office",
                     "ownership": "private", "position": "Повар"},
        "oms_policy": "7700000000000008", "consent_personal_data": True,
    })  # fmt: skip
    for kind, (document_id, _) in scans.items():
        await journey.call("POST", "applications", f"/{draft['id']}/documents", token=token,
                           json={"document_id": document_id, "kind": kind})  # fmt: skip
    submitted = await journey.call("POST", "applications", f"/{draft['id']}/submit", token=token)
    return {"person": person, "application": submitted, "scans": scans}


async def operator_token(journey: Journey) -> str:
    admin = await journey.login(journey.admin_email, journey.admin_password, journey.admin_email)
    email = f"operator.{uuid.uuid4().hex[:8]}@example.ru"
    await journey.call("POST", "identity", "/staff", token=admin, expect=201, json={
        "role": "operator", "last_name": "Смирнов", "first_name": "Олег", "email": email,
        "phone": f"+79{uuid.uuid4().int % 10**9:09d}", "password": "Операторский-пароль-2026",
    })  # fmt: skip
    return await journey.login(email, "Операторский-пароль-2026", email)


@pytest.mark.integration  # starts its own stack
async def test_a_journey_stopped_mid_flow_goes_on_after_a_restart(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    with Stack(var_dir, Ports.free(), kafka_storage="s3", log=lambda _: None) as first:
        first.start()
        journey = Journey.on(first, lambda _: None)
        try:
            done = await citizen_with_a_submitted_application(journey, var_dir)

            async def told_of_the_submission() -> list[str]:
                return [
                    t for t in Delivered(var_dir).sms(done["person"]["phone"]) if "Принято" in t
                ]

            await eventually(told_of_the_submission, within=30, what="the submission's SMS")
            operator = await operator_token(journey)
            # Kafka away: the operator's step commits, its event waits in the outbox.
            first.stop_server("kafka")
            application_id = done["application"]["id"]
            taken = await journey.call("POST", "applications", f"/{application_id}/take",
                                       token=operator)  # fmt: skip
            assert taken["status"] == "in_review"
        finally:
            await journey.http.aclose()
    # Everything stopped. A new run on the same data, on other ports.
    phone = done["person"]["phone"]
    told_before = [t for t in Delivered(var_dir).sms(phone) if "В обработке" in t]
    assert told_before == []
    with Stack(var_dir, Ports.free(), kafka_storage="s3", log=lambda _: None) as second:
        second.start()
        journey = Journey.on(second, lambda _: None)
        try:
            person = done["person"]
            token = await journey.login(person["email"], person["password"], phone)
            application = await journey.call(
                "GET", "applications", f"/{application_id}", token=token
            )
            assert application["status"] == "in_review"
            for document_id, sha256 in done["scans"].values():
                answer = await journey.http.get(
                    journey.url("documents", f"/{document_id}/content"),
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == 200
                assert hashlib.sha256(answer.content).hexdigest() == sha256
            notes = await journey.call("GET", "notifications", "", token=token)
            assert "submitted" in {n["status"] for n in notes["items"]}

            async def told_of_the_waiting_step() -> list[str]:
                return [t for t in Delivered(var_dir).sms(phone) if "В обработке" in t]

            # The event that waited in the outbox through the restart reaches the citizen, once.
            told = await eventually(
                told_of_the_waiting_step, within=60, what="the SMS of the step taken offline"
            )
            assert len(told) == 1
        finally:
            await journey.http.aclose()
