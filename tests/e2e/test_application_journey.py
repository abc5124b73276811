"""The journey of ``make demo`` on the platform this suite starts: real identity, documents
(ClamAV, S3), applications and notifications, talking over HTTP and Kafka."""

from __future__ import annotations

from typing import Any

from emk_devstack.demo import Journey
from emk_devstack.stack import Stack


async def test_the_demo_journey_runs_from_registration_to_approval(platform: Stack) -> None:
    env = platform.env
    said: list[str] = []
    journey = Journey(
        {s: platform.service_url(s) for s in ("identity", "applications", "documents",
                                                "records", "notifications")},
        platform.var_dir,
        env["EMK_BOOTSTRAP_ADMIN_EMAIL"],
        env["EMK_BOOTSTRAP_ADMIN_PASSWORD"],
        say=said.append,
    )  # fmt: skip
    record: dict[str, Any] = await journey.run()

    assert record["statuses"] == [
        "draft", "draft", "draft", "submitted", "in_review", "clarification_requested",
        "clarification_requested", "in_review", "approved",
    ]  # fmt: skip
    number = record["number"]
    # Every status change reached the citizen by SMS, with the number and the new status.
    assert len(record["sms"]) == 5
    assert "Принято" in record["sms"][0]
    assert "Требуется уточнение" in record["sms"][2]
    assert "Одобрено" in record["sms"][-1]
    assert all(number in text for text in record["sms"])
    told = {n["status"] for n in record["notifications"]}
    assert told >= {"submitted", "in_review", "clarification_requested", "approved"}
    clarification = next(
        n for n in record["notifications"] if n["status"] == "clarification_requested"
    )
    assert "Скан паспорта" in clarification["text"]
    assert any(line.startswith("9.") for line in said)
