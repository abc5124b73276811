"""``GET /asyncapi.json``: a service's AsyncAPI 3.0 document, made from what its code declares
(the outbox's topics, the consumer's handlers), valid against the AsyncAPI 3.0 JSON Schema, and
true to what the outbox relay and the consumer's dead letters put on Kafka — without a server
(fakes stand for Kafka and MongoDB). The five services' documents: tests/contracts."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from jsonschema import Draft7Validator, FormatChecker, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT7

from emk_common import asyncapi, catalog
from emk_common.events import Envelope, EventData
from emk_common.kafka import EventConsumer
from emk_common.outbox import OUTBOX_FIELD, OutboxRelay, _entry
from emk_common.service import Runtime, create_app, create_runtime
from emk_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
ASYNCAPI_SCHEMA = ROOT / "docs" / "asyncapi" / "schema" / "asyncapi-3.0.0.json"
SERVICE = "asyncprobe"
DLQ = "emk.asyncprobe.dlq"
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class ProbeSettings(ServiceSettings):
    service_name: ClassVar[str] = SERVICE


def _settings() -> ProbeSettings:
    return ProbeSettings(
        mongodb_uri="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100",
        mongodb_database="asyncapi_unit",
        kafka_bootstrap_servers="127.0.0.1:1",  # nobody there: nothing here connects
    )


async def _handle(*_: Any) -> None:
    return None


def _service() -> tuple[Any, Runtime]:
    """A service that publishes ``emk.documents`` and handles two events of other topics."""
    runtime = create_runtime(_settings(), produces=[catalog.DOCUMENTS])
    runtime.consumer.on(catalog.ApplicationSubmitted, name="probe.submitted")(_handle)
    runtime.consumer.on(catalog.BookDueDatesChanged, name="probe.due")(_handle)
    return create_app(runtime, title="ЭМК — asyncprobe", description=""), runtime


def _app() -> Any:
    return _service()[0]


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response


async def _served() -> dict[str, Any]:
    document: dict[str, Any] = (await _get(_app(), "/asyncapi.json")).json()
    return document


def _asyncapi_validator() -> Draft7Validator:
    return Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text("utf-8")))


def _validator(document: dict[str, Any], pointer: str) -> Draft7Validator:
    """A validator of the schema at ``pointer`` in ``document`` (an AsyncAPI Schema: draft-07),
    its references resolved in the document."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:asyncapi", DRAFT7.create_resource(document)
    )
    return Draft7Validator(
        {"$ref": f"urn:asyncapi{pointer}"}, registry=registry, format_checker=FormatChecker()
    )


def _unembedded(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """An embedded event schema with its references as docs/events has them (``#/$defs/…``)."""
    text = json.dumps(schema).replace(f'"$ref": "{pointer}/', '"$ref": "#/')
    found: dict[str, Any] = json.loads(text)
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} does not point into the document"
    node: Any = document
    for step in ref[2:].split("/"):
        node = node[step.replace("~1", "/").replace("~0", "~")]
    return node


def _operation_events(document: dict[str, Any], operation: str) -> list[str]:
    return [
        _resolve(document, _resolve(document, ref["$ref"])["$ref"])["name"]
        for ref in document["operations"][operation]["messages"]
    ]


# --- the document ---------------------------------------------------------------------------


async def test_the_document_is_valid_asyncapi_3() -> None:
    document = await _served()
    validator = _asyncapi_validator()
    validator.validate(document)
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "ЭМК — asyncprobe — events"
    # The validator does reject what is not AsyncAPI 3.0.
    broken = copy.deepcopy(document)
    broken["operations"][f"send.{DLQ}"]["action"] = "publish"
    with pytest.raises(ValidationError):
        validator.validate(broken)
    unknown = copy.deepcopy(document)
    unknown["channels"][DLQ]["topic"] = DLQ
    with pytest.raises(ValidationError):
        validator.validate(unknown)


async def test_channels_are_the_topics_it_publishes_reads_and_its_dead_letters() -> None:
    app, runtime = _service()
    document = (await _get(app, "/asyncapi.json")).json()
    channels = document["channels"]
    # create_app may add a topic every service writes (its audit journal's anchors).
    shared = [topic for topic in runtime.produces if topic != catalog.DOCUMENTS]
    assert sorted(channels) == sorted(
        [
            catalog.DOCUMENTS,
            *shared,
            catalog.APPLICATIONS,
            catalog.RECORDS,
            catalog.IDENTITY_SESSIONS,
            DLQ,
        ]
    )
    assert all(channel["address"] == name for name, channel in channels.items())
    assert sorted(document["operations"]) == sorted(
        [
            f"send.{catalog.DOCUMENTS}",
            *(f"send.{topic}" for topic in shared),
            f"send.{DLQ}",
            f"receive.{catalog.APPLICATIONS}",
            f"receive.{catalog.RECORDS}",
            f"receive.{catalog.IDENTITY_SESSIONS}",
        ]
    )


async def test_it_sends_every_event_of_its_topics_and_receives_the_ones_it_handles() -> None:
    document = await _served()
    documents_events = sorted(
        cls.event_type() for cls in catalog.CATALOG.values() if cls.topic == catalog.DOCUMENTS
    )
    # Uploaded, Verified, Rejected v1 (still read from the log) and v2 (published now).
    assert len(documents_events) == 4
    assert _operation_events(document, f"send.{catalog.DOCUMENTS}") == documents_events
    assert _operation_events(document, f"receive.{catalog.APPLICATIONS}") == [
        "emk.applications.ApplicationSubmitted.v1"
    ]
    assert _operation_events(document, f"receive.{catalog.RECORDS}") == [
        "emk.records.BookDueDatesChanged.v1"
    ]
    assert _operation_events(document, f"receive.{catalog.IDENTITY_SESSIONS}") == [
        "emk.identity.sessions.SessionRevoked.v1"
    ]
    assert _operation_events(document, f"send.{DLQ}") == ["DeadLetter"]
    # A channel lists every event on its topic, read or not: what a reader meets there.
    applications = document["channels"][catalog.APPLICATIONS]["messages"]
    assert len(applications) == len(
        [cls for cls in catalog.CATALOG.values() if cls.topic == catalog.APPLICATIONS]
    )


async def test_every_reference_resolves_and_operations_use_their_channels_messages() -> None:
    document = await _served()
    refs = set(_refs(document))
    assert refs
    for ref in refs:
        _resolve(document, ref)
    assert "$id" not in json.dumps(document), "an embedded $id changes what references mean"
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name


async def test_each_events_data_is_its_docs_events_schema() -> None:
    document = await _served()
    schemas = document["components"]["schemas"]
    for event_type, schema in schemas.items():
        # The docs/events schema, but for the publishers' names (a service knows only itself).
        original = asyncapi.event_schema(catalog.CATALOG[event_type], "someone")
        expected = {k: v for k, v in original.items() if k not in ("$id", "$schema")}
        expected["description"] = expected["description"].replace(", published by someone", "")
        assert _unembedded(schema, asyncapi.schema_pointer(event_type)) == expected, event_type
    message = document["components"]["messages"]["emk.applications.ApplicationSubmitted.v1"]
    assert message["name"] == "emk.applications.ApplicationSubmitted.v1"
    payload = message["payload"]
    assert payload["properties"]["data"] == {"$ref": asyncapi.schema_pointer(message["name"])}
    assert payload["properties"]["type"]["const"] == message["name"]
    assert set(payload["required"]) == set(Envelope.model_fields)


async def test_the_page_shows_the_document() -> None:
    page = (await _get(_app(), "/asyncapi")).text
    assert "<title>ЭМК — asyncprobe — events AsyncAPI</title>" in page
    assert DLQ in page
    assert "emk.applications.ApplicationSubmitted.v1" in page
    assert "AsyncApiTryItPlugin" not in page  # no try-it-out endpoint here


# --- true to what goes on Kafka -------------------------------------------------------------


@dataclass
class _Publisher:
    published: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)
    ready: bool = True

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        self.published.append((topic, key, body, headers))


def _send(document: dict[str, Any], event_type: str) -> tuple[str, str]:
    """The channel address and message pointer the service sends ``event_type`` by."""
    for operation in document["operations"].values():
        if operation["action"] != "send":
            continue
        for ref in operation["messages"]:
            message_ref = _resolve(document, ref["$ref"])["$ref"]
            if _resolve(document, message_ref)["name"] == event_type:
                return _resolve(document, operation["channel"]["$ref"])["address"], message_ref
    raise AssertionError(f"the document sends no {event_type}")


async def test_what_the_outbox_relay_publishes_is_the_documented_message() -> None:
    document = await _served()
    data = catalog.DocumentUploaded(
        document_id="d1",
        owner_id="u1",
        kind="passport",
        size=10,
        content_type="application/pdf",
        sha256="0" * 64,
    )
    envelope = Envelope.wrap(data, source=SERVICE, subject="d1", at=AT)
    publisher = _Publisher()
    relay = OutboxRelay([], None, publisher)  # type: ignore[arg-type]
    await relay._publish_in_order({OUTBOX_FIELD: [_entry(envelope)]})
    [(topic, key, body, headers)] = publisher.published
    address, message = _send(document, data.event_type())
    assert topic == address
    assert key == envelope.subject
    _validator(document, f"{message}/headers").validate(headers)
    _validator(document, f"{message}/bindings/kafka/key").validate(key)
    payload = _validator(document, f"{message}/payload")
    payload.validate(json.loads(body))
    # The payload's schema does tell a wrong event from a right one.
    wrong_type = {**json.loads(body), "type": "emk.documents.DocumentVerified.v1"}
    assert not payload.is_valid(wrong_type)
    missing = json.loads(body)
    del missing["data"]["sha256"]
    assert not payload.is_valid(missing)


@pytest.mark.parametrize(
    "data",
    [
        catalog.ApplicationSubmitted(
            application_id="a1", applicant_id="u1", number="2026-000001", due_date=date(2026, 3, 31)
        ),
        catalog.BookDueDatesChanged(
            book_id="b1",
            holder_id="u1",
            due=[catalog.DueItem(item_id="r1", kind="periodic_exam", due_date=date(2027, 3, 1))],
        ),
        catalog.SessionRevoked(session_id="s1", revoked_at=AT, refuse_until=AT),
    ],
    ids=lambda data: type(data).__name__,
)
async def test_a_received_event_follows_its_message(data: EventData) -> None:
    document = await _served()
    envelope = json.loads(Envelope.wrap(data, source="elsewhere", subject="x1", at=AT).to_bytes())
    validator = _validator(document, f"#/components/messages/{data.event_type()}/payload")
    validator.validate(envelope)
    if isinstance(data, catalog.BookDueDatesChanged):  # through the nested schema's reference
        envelope["data"]["due"][0]["kind"] = "haircut"
        assert not validator.is_valid(envelope)


@dataclass
class _Record:
    value: bytes
    topic: str = catalog.APPLICATIONS
    partition: int = 1
    offset: int = 7
    key: bytes | None = b"a1"
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class _Broker:
    published: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, **options: Any) -> None:
        self.published.append((topic, body, options))


class _Inbox:
    async def apply_once(self, handler: str, event_id: str, effect: Any) -> bool:
        await effect(None)
        return True


async def test_a_dead_letter_is_the_documented_message() -> None:
    document = await _served()
    consumer = EventConsumer(_settings(), _Inbox())  # type: ignore[arg-type]

    async def fails(*_: Any) -> None:
        raise ValueError("never")

    consumer.on(catalog.ApplicationSubmitted, name="probe.fails")(fails)
    broker = _Broker()
    await consumer.dispatch(broker, _Record(b"not an envelope"))  # type: ignore[arg-type]
    [(topic, _, options)] = broker.published
    address, message = _send(document, asyncapi.DEAD_LETTER_MESSAGE)
    assert topic == address == DLQ
    headers_schema = _resolve(document, message)["headers"]
    assert sorted(options["headers"]) == sorted(headers_schema["required"])
    assert sorted(headers_schema["properties"]) == sorted(headers_schema["required"])
    _validator(document, f"{message}/headers").validate(options["headers"])
    _validator(document, f"{message}/bindings/kafka/key").validate(options["key"].decode())


def test_the_consumer_s_events_are_read_from_its_registrations() -> None:
    consumer = EventConsumer(_settings(), _Inbox())  # type: ignore[arg-type]
    assert asyncapi.consumed_events(consumer) == []
    consumer.on(catalog.ApplicationSubmitted, name="one")(_handle)
    consumer.on(catalog.UserRegistered, name="two")(_handle)
    consumer.on(catalog.ApplicationSubmitted, name="three")(_handle)
    assert asyncapi.consumed_events(consumer) == [
        catalog.ApplicationSubmitted,
        catalog.UserRegistered,
    ]
