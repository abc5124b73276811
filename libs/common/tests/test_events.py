"""The envelope, the catalog's contract, and outbox staging — pure, no servers."""

from __future__ import annotations

import re
from datetime import date

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from emk_common import catalog
from emk_common.events import Envelope, parse_data
from emk_common.leases import shard_of
from emk_common.outbox import OUTBOX_FIELD, PENDING_FIELD, Outbox

# Words that would mean personal data, contacts, secrets or medical content in an event.
FORBIDDEN = re.compile(
    r"passport|snils|oms|inn|phone|email|address|name|birth|password|secret|token|"
    r"code|otp|diagnos|conclusion|result|comment_text",
    re.IGNORECASE,
)
ALLOWED = {
    "DeliverOtp.sealed",  # sealed for the notifications service only
    "SealedBox.ciphertext",
    "NotificationFailed.error_code",  # a failure code, not a one-time code
    "BookAccessGranted.organization_name",  # a medical organisation's, from its registry
}


def _fields(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(f"{prefix}.{name}")
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(_fields(annotation, annotation.__name__))
    return names


def test_the_catalog_has_every_event_of_the_architecture() -> None:
    names = {cls.name for cls in catalog.CATALOG.values()}
    assert names >= {
        "UserRegistered", "ContactVerified", "PersonalDataVerified", "TwoFactorChanged",
        "AccountLocked", "StaffAccountCreated", "ApplicationDrafted", "ApplicationSubmitted",
        "ApplicationStatusChanged", "ClarificationRequested", "ApplicationApproved",
        "ApplicationRejected", "DeadlineBreached", "DocumentUploaded", "DocumentVerified",
        "DocumentRejected", "MedicalBookIssued", "ExamRecorded", "VaccinationRecorded",
        "LabResultRecorded", "RecordCorrected", "BookDueDatesChanged", "BookValidityChanged",
        "PositionAdded", "PersonalDataChanged", "StaffDeactivated",
        "BookShared", "ShareRevoked", "ShareChecked",
        "NotificationSent", "NotificationFailed", "DeliverOtp",
    }  # fmt: skip


@pytest.mark.parametrize("event_type", sorted(catalog.CATALOG))
def test_no_event_can_carry_personal_data_or_secrets(event_type: str) -> None:
    cls = catalog.CATALOG[event_type]
    suspicious = [
        f
        for f in _fields(cls, cls.__name__)
        if FORBIDDEN.search(f.split(".", 1)[1]) and f not in ALLOWED
    ]
    assert suspicious == []


def test_event_types_are_versioned_and_name_their_topic() -> None:
    for event_type, cls in catalog.CATALOG.items():
        assert re.fullmatch(r"emk\.[a-z.]+\.[A-Z][A-Za-z]+\.v\d+", event_type)
        assert cls.topic in catalog.TOPICS
        assert event_type.startswith(cls.topic + ".")


def test_an_envelope_round_trips_and_keeps_its_payload_typed() -> None:
    data = catalog.ApplicationSubmitted(
        application_id="a1", applicant_id="u1", number="2026-000001", due_date=date(2026, 1, 16)
    )
    envelope = Envelope.wrap(data, source="applications", subject="a1")
    again = Envelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.topic == "emk.applications"
    assert again.type == "emk.applications.ApplicationSubmitted.v1"
    assert parse_data(again, catalog.ApplicationSubmitted) == data
    assert again.specversion == "1.0"


def test_a_consumer_ignores_fields_it_does_not_know() -> None:
    payload = {"user_id": "u1", "channel": "sms", "added_in_a_later_version": 1}
    assert catalog.ContactVerified.model_validate(payload).user_id == "u1"


def test_an_envelope_captures_the_current_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        envelope = Envelope.wrap(catalog.UserRegistered(user_id="u1"), source="i", subject="u1")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert envelope.traceparent is not None
    assert envelope.traceparent.split("-")[1] == trace_id


def test_shards_are_stable_across_processes_and_spread() -> None:
    assert shard_of("application-1", 8) == shard_of("application-1", 8)
    assert shard_of("application-1", 8) == 1  # pinned: a change would reshuffle live leases
    spread = {shard_of(f"a{i}", 8) for i in range(200)}
    assert spread == set(range(8))


def test_outbox_staging_adds_events_to_the_same_write() -> None:
    outbox = Outbox(shards=8)
    first = Envelope.wrap(catalog.UserRegistered(user_id="u1"), source="i", subject="u1")
    second = Envelope.wrap(
        catalog.ContactVerified(user_id="u1", channel="sms"), source="i", subject="u1"
    )
    inserted = outbox.insert({"_id": "u1", "status": "new"}, [first])
    assert inserted["status"] == "new"
    assert [e["id"] for e in inserted[OUTBOX_FIELD]] == [first.id]
    assert inserted[PENDING_FIELD] == shard_of("u1", 8)

    update = outbox.update(
        "u1", {"$set": {"status": "verified"}, "$push": {"history": 1}}, [first, second]
    )
    assert update["$set"] == {"status": "verified", PENDING_FIELD: shard_of("u1", 8)}
    assert update["$push"]["history"] == 1
    entries = update["$push"][OUTBOX_FIELD]["$each"]
    assert [e["id"] for e in entries] == [first.id, second.id]
    assert entries[0]["topic"] == "emk.identity"
    assert entries[0]["key"] == "u1"
    assert Envelope.model_validate_json(entries[1]["body"]) == second


def test_staging_nothing_changes_nothing() -> None:
    outbox = Outbox(shards=8)
    assert outbox.insert({"_id": "x"}, []) == {"_id": "x"}
    assert outbox.update("x", {"$set": {"a": 1}}, []) == {"$set": {"a": 1}}


def test_a_write_to_an_outbox_collection_wakes_the_relay_and_nothing_else_does() -> None:
    from datetime import timedelta

    from pymongo import monitoring

    from emk_common.outbox import OutboxWrites

    woken: list[int] = []
    writes = OutboxWrites("emk_probe", ["aggregates"], lambda: woken.append(1))
    address, took = ("127.0.0.1", 27017), timedelta(milliseconds=1)

    def command(request_id: int, name: str, target: object, database: str = "emk_probe") -> None:
        writes.started(
            monitoring.CommandStartedEvent({name: target}, database, request_id, address, 1)
        )
        writes.succeeded(
            monitoring.CommandSucceededEvent(took, {"ok": 1}, name, request_id, address, 1)
        )

    command(1, "update", "aggregates")
    assert woken == [1]
    command(2, "insert", "access_log")  # not an outbox collection
    command(3, "find", "aggregates")  # not a write
    command(4, "update", "aggregates", database="another_service")
    assert woken == [1]
    command(5, "commitTransaction", 1, database="admin")  # a transaction may hold one
    assert woken == [1, 1]
    writes.started(
        monitoring.CommandStartedEvent({"insert": "aggregates"}, "emk_probe", 6, address, 1)
    )
    writes.failed(monitoring.CommandFailedEvent(took, {"ok": 0}, "insert", 6, address, 1))
    assert woken == [1, 1]


async def test_eventually_keeps_its_deadline_when_a_probe_hangs() -> None:
    import asyncio

    from emk_testing import eventually

    async def stuck() -> bool:
        await asyncio.sleep(3600)
        return True

    started = asyncio.get_running_loop().time()
    with pytest.raises(AssertionError, match="still running"):
        await eventually(stuck, within=0.3, what="a stuck probe")
    assert asyncio.get_running_loop().time() - started < 2


def test_a_failure_summary_never_quotes_the_data() -> None:
    from pydantic import ValidationError

    from emk_common.kafka import _safe_message

    with pytest.raises(ValidationError) as caught:
        catalog.ContactVerified.model_validate({"user_id": "u1", "channel": "+79991234567"})
    summary = _safe_message(caught.value)
    assert "+79991234567" not in summary
    assert summary == "channel: literal_error"
