"""The journey of ``make demo`` on the platform this suite starts: real identity, documents
(ClamAV, S3), applications and notifications, talking over HTTP and Kafka."""

from __future__ import annotations

from typing import Any

import httpx

from emk_devstack.demo import Delivered, Journey
from emk_devstack.stack import Stack
from emk_testing import eventually


async def test_the_demo_journey_runs_from_registration_to_approval(
    platform: Stack, demo: tuple[dict[str, Any], list[str]]
) -> None:
    record, said = demo

    assert record["statuses"] == [
        "draft", "draft", "draft", "submitted", "in_review", "clarification_requested",
        "clarification_requested", "in_review", "approved",
    ]  # fmt: skip
    number = record["number"]
    # Every status change of the review reached the citizen by SMS, with the number and the
    # new status (the book's «Готово к выдаче» may already follow: it is checked below).
    review = [text for text in record["sms"] if "Готово к выдаче" not in text]
    assert len(review) == 5
    assert "Принято" in review[0]
    assert "Требуется уточнение" in review[2]
    assert "Одобрено" in review[-1]
    assert all(number in text for text in record["sms"])
    told = {n["status"] for n in record["notifications"]}
    assert told >= {"submitted", "in_review", "clarification_requested", "approved"}
    clarification = next(
        n for n in record["notifications"] if n["status"] == "clarification_requested"
    )
    assert "Скан паспорта" in clarification["text"]
    assert any(line.startswith("9.") for line in said)

    # The book: issued on the approval, filled in by a medical worker, valid — its exam (dated
    # 360 days ago) falls due in 5 days, so it is valid and expiring, and a reminder came.
    application, book = record["application"], record["book"]
    assert application["status"] == "issued"
    assert application["history"][-1]["status_label"] == "Готово к выдаче"
    assert application["history"][-1]["comment"] == f"Медицинская книжка № {book['number']}"
    assert (book["status"], book["status_label"]) == ("expiring", "Действует")
    reminder = record["reminder"]
    assert reminder["title"] == "Напоминание о сроке"
    assert reminder["text"].startswith("Через 5 дней, ")
    assert "истекает срок периодического медицинского осмотра" in reminder["text"]
    assert reminder["book_id"] == book["id"]
    assert any(line.startswith("15a.") for line in said)
    assert [len(book[k]) for k in ("exams", "lab_results", "certifications", "vaccinations")] == [
        1, 1, 1, 1,
    ]  # fmt: skip
    assert {d["kind"] for d in book["due"]} == {"periodic_exam", "attestation", "vaccination"}
    assert any(line.startswith("15.") for line in said)

    async def told_of_the_book() -> list[str]:
        texts = Delivered(platform.var_dir).sms(record["citizen_phone"])
        return [t for t in texts if book["number"] in t and "Готово к выдаче" in t]

    await eventually(told_of_the_book, what="the SMS with the book's number")


async def test_a_deactivated_medical_worker_is_refused_by_records_at_once(
    platform: Stack,
) -> None:
    record: dict[str, Any] = await Journey.on(platform, lambda _: None).run()
    doctor, admin = record["doctor"], record["admin"]
    records = platform.service_url("records")
    identity = platform.service_url("identity")
    async with httpx.AsyncClient(timeout=30) as http:
        me = await http.get(
            f"{identity}/api/v1/identity/me", headers={"Authorization": f"Bearer {doctor}"}
        )
        worker_id = me.json()["user_id"]
        book = f"{records}/api/v1/records/books/{record['book']['id']}"
        assert (
            await http.get(book, headers={"Authorization": f"Bearer {doctor}"})
        ).status_code == 200
        closed = await http.post(
            f"{identity}/api/v1/identity/staff/{worker_id}/deactivate",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert closed.status_code == 204

        async def refused() -> bool:
            # Whichever arrives first refuses: the revoked session (401, SessionRevoked) or
            # the deactivated worker (403, StaffDeactivated: keys and grants revoked).
            answer = await http.get(book, headers={"Authorization": f"Bearer {doctor}"})
            return answer.status_code in (401, 403)

        await eventually(refused, within=5, what="records refusing the deactivated worker")
        # Identity ended the sessions: the same token is refused there too.
        again = await http.get(
            f"{identity}/api/v1/identity/me", headers={"Authorization": f"Bearer {doctor}"}
        )
        assert again.status_code == 401
