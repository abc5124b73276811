"""A service's events for other teams: an AsyncAPI 3.0 document made from what its code declares.

:func:`service_document` lists, for one service:

* a channel per Kafka topic it publishes (its outbox's topics, ``create_runtime(produces=…)``),
  with every event type of the catalog on that topic and a ``send`` operation;
* a channel per topic it reads, with a ``receive`` operation naming the event types its
  :class:`~emk_common.kafka.EventConsumer` handles — and the revoked sessions every replica
  of every service reads (:mod:`emk_common.revocation`);
* its own dead-letter topic ``emk.<service>.dlq``, which it sends to.

Each event type is a message of its own (``name``: the event type, e.g.
``emk.applications.ApplicationSubmitted.v1``): its payload is the envelope with ``type`` fixed
and ``data`` the event's JSON Schema (``components.schemas``), its headers those the outbox
relay writes, its Kafka key the aggregate's id.

The JSON Schemas of the events are made here, and ``emk_devstack.contracts`` writes
``docs/events/`` with the same functions (:func:`event_schema`, :func:`envelope_schema`): a
service serves them in its document, and services do not depend on the devstack. Inside an
AsyncAPI document an event's schema loses ``$id`` and ``$schema`` (an embedded ``$id`` would
change what its references resolve against), its references point into the document, and its
description does not name the topic's publishers (a service knows only itself; its document's
``send`` operations say what it publishes).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any

from emk_common.catalog import CATALOG, SessionRevoked, dlq_topic
from emk_common.events import EVENT_CONTENT_TYPE, Envelope, EventData
from emk_common.kafka import EventConsumer

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"

# docs/events: the schemas' dialect, where their ``$id`` point (an identifier, like the problem
# types' base) and the envelope's file there.
DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE = "https://emk.example/events/"
ENVELOPE_FILE = "envelope.json"

# The headers of a dead letter, as EventConsumer writes them (libs/common/tests/test_asyncapi.py
# holds the two together).
DEAD_LETTER_HEADERS: Mapping[str, str] = {
    "original_topic": "The topic the record was read from.",
    "original_partition": "Its partition there (a decimal number).",
    "original_offset": "Its offset there (a decimal number).",
    "handler": "The handler that could not apply it (`envelope` when it was no envelope).",
    "exc_class": "The class of the error, with its module.",
    "reason": "Why, in short: a validation error's locations and codes, or the error's class."
    " It never quotes the record's data.",
}
DEAD_LETTER_MESSAGE = "DeadLetter"


# --- the events' JSON Schemas (docs/events too) -------------------------------------------------


def event_file(event: type[EventData]) -> str:
    """Where an event type's schema lives under ``docs/events``: ``<topic>/<Name>.v<N>.json``."""
    return f"{event.topic}/{event.name}.v{event.version}.json"


def event_schema(event: type[EventData], publisher: str | None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type's ``data`` (validation: what a consumer
    may rely on and an older event still satisfies), with its identity as the catalog says.
    ``publisher``: the service that publishes its topic, when known."""
    schema: dict[str, Any] = event.model_json_schema()
    event_type = event.event_type()
    own_doc = event.__dict__.get("__doc__")
    published_by = f", published by {publisher}" if publisher else ""
    summary = (
        f"The `data` of an `{event_type}` event: the envelope (`../{ENVELOPE_FILE}`) has"
        f" `type` = `{event_type}` and travels on the Kafka topic `{event.topic}`{published_by}."
        " Unknown fields are to be ignored: fields may be added."
    )
    schema.pop("description", None)
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_BASE + event_file(event),
        **schema,
        "title": event_type,
        "description": summary + ("\n\n" + inspect.cleandoc(own_doc) if own_doc else ""),
        "x-topic": event.topic,
        "x-event-type": event_type,
        "x-event-name": event.name,
        "x-event-version": event.version,
    }


def envelope_schema() -> dict[str, Any]:
    """The envelope around every event (CloudEvents 1.0, structured JSON mode). A published
    envelope has every attribute (``null`` when there is no trace context)."""
    schema: dict[str, Any] = Envelope.model_json_schema()
    schema["required"] = list(schema["properties"])
    schema["properties"]["data"]["description"] = (
        "The event's payload: the schema of its `type`, `<topic>/<Name>.v<N>.json` here."
    )
    schema["properties"]["type"]["description"] = (
        "`<topic>.<Name>.v<N>`, e.g. `emk.applications.ApplicationSubmitted.v1`; a consumer"
        " ignores types it does not know."
    )
    schema["properties"]["subject"]["description"] = (
        "The aggregate's id, also the Kafka record's key: one aggregate's events are in order."
    )
    schema["properties"]["id"]["description"] = (
        "A uuid4, the idempotency key: an event may be delivered more than once."
    )
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_BASE + ENVELOPE_FILE,
        **schema,
        "title": "Envelope",
    }


# --- the AsyncAPI document ------------------------------------------------------------------


def schema_pointer(event_type: str) -> str:
    """Where an event type's ``data`` schema is in a service's document."""
    return f"#/components/schemas/{_escape(event_type)}"


def embedded_schema(schema: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    """``schema`` (a docs/events schema) as it sits at ``pointer`` in a document: without
    ``$id``/``$schema``, its own references (``#/$defs/…``) pointing there."""
    embedded: dict[str, Any] = _rebased(schema, pointer)  # new containers: ``schema`` stays
    embedded.pop("$id", None)
    embedded.pop("$schema", None)
    return embedded


def consumed_events(consumer: EventConsumer) -> list[type[EventData]]:
    """The event types ``consumer`` has handlers for, in the order they were declared."""
    # EventConsumer keeps its registrations by event type; each names its event class.
    registrations = consumer._handlers.values()
    found = {reg.event.event_type(): reg.event for regs in registrations for reg in regs}
    return list(found.values())


def service_document(
    service: str,
    *,
    title: str,
    version: str,
    produces: Iterable[str],
    consumes: Iterable[type[EventData]],
    events: Iterable[type[EventData]] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``service``: the topics it publishes (``produces``: its
    outbox's) with every event type of ``events`` (default: the catalog) on them; the event
    types it handles (``consumes``: its consumer's) and the revoked sessions every service
    reads; its dead-letter topic."""
    catalog = list(CATALOG.values() if events is None else events)
    published = sorted(set(produces))
    received: dict[str, dict[str, type[EventData]]] = {}
    # Every replica of every service reads the revoked sessions (emk_common.revocation).
    reads: list[type[EventData]] = [*consumes, SessionRevoked]
    for event in reads:
        received.setdefault(event.topic, {})[event.event_type()] = event

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for topic in sorted({*published, *received}):
        # A channel lists every event on its topic (what a reader sees there), an operation
        # only those the service sends or handles.
        on_topic = {e.event_type(): e for e in catalog if e.topic == topic}
        on_topic.update(received.get(topic, {}))
        for event_type, event in sorted(on_topic.items()):
            messages[event_type] = _event_message(event)
            schemas[event_type] = embedded_schema(
                event_schema(event, None), schema_pointer(event_type)
            )
        channels[topic] = {
            "address": topic,
            "title": topic,
            "description": _channel_description(service, topic, published, received),
            "messages": {
                _message_key(event): {"$ref": f"#/components/messages/{_escape(event_type)}"}
                for event_type, event in sorted(on_topic.items())
            },
        }
        if topic in published:
            operations[f"send.{topic}"] = _operation(
                "send",
                topic,
                sorted(on_topic.values(), key=_event_order),
                f"{service} publishes these events through its outbox: each one after the"
                " change it reports is saved, at least once, in order per aggregate.",
            )
        if topic in received:
            operations[f"receive.{topic}"] = _operation(
                "receive",
                topic,
                sorted(received[topic].values(), key=_event_order),
                _receive_description(service, topic),
            )

    dead_letters = dlq_topic(service)
    channels[dead_letters] = {
        "address": dead_letters,
        "title": dead_letters,
        "description": f"The records {service}'s consumers can never apply, from whichever"
        " topic they read them. Only this service writes it; nothing reads it automatically:"
        " someone looks at them, mends the cause and replays them.",
        "messages": {DEAD_LETTER_MESSAGE: {"$ref": f"#/components/messages/{DEAD_LETTER_MESSAGE}"}},
    }
    operations[f"send.{dead_letters}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{_escape(dead_letters)}"},
        "title": f"Dead letters of {service}",
        "description": "A record is dead-lettered when a handler fails on it every time it is"
        " retried (or it cannot be read, or names something nobody has), never while MongoDB"
        " or a peer service is away. The consumer then moves on.",
        "messages": [
            {"$ref": f"#/channels/{_escape(dead_letters)}/messages/{DEAD_LETTER_MESSAGE}"}
        ],
    }
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message(service)

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": _info_description(service),
        },
        "defaultContentType": EVENT_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


class AsyncAPIDocument:
    """A made document where FastStream's AsyncAPI page expects its own specification (the
    page needs only the title and the JSON)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = dict(document)

    @property
    def title(self) -> str:
        return str(self._document["info"]["title"])

    def to_jsonable(self) -> dict[str, Any]:
        return self._document

    def to_json(self) -> str:
        return json.dumps(self._document, ensure_ascii=False)

    def to_yaml(self) -> str:
        return self.to_json()  # JSON is YAML


def _escape(key: str) -> str:
    """``key`` as one step of a JSON pointer."""
    return key.replace("~", "~0").replace("/", "~1")


def _rebased(node: Any, pointer: str) -> Any:
    """``node`` with its local references (``#/…``) made relative to ``pointer`` instead."""
    if isinstance(node, Mapping):
        return {
            key: (
                pointer + value[1:]
                if key == "$ref" and isinstance(value, str) and value.startswith("#/")
                else _rebased(value, pointer)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebased(item, pointer) for item in node]
    return node


def _event_order(event: type[EventData]) -> str:
    return event.event_type()


def _message_key(event: type[EventData]) -> str:
    return f"{event.name}.v{event.version}"


def _operation(
    action: str, topic: str, events: Iterable[type[EventData]], description: str
) -> dict[str, Any]:
    channel = f"#/channels/{_escape(topic)}"
    return {
        "action": action,
        "channel": {"$ref": channel},
        "title": f"{action} {topic}",
        "description": description,
        "messages": [
            {"$ref": f"{channel}/messages/{_escape(_message_key(event))}"} for event in events
        ],
    }


def _channel_description(
    service: str, topic: str, published: Iterable[str], received: Mapping[str, Any]
) -> str:
    roles = []
    if topic in published:
        roles.append(f"{service} publishes to it")
    if topic == SessionRevoked.topic:
        roles.append("every service reads it, each replica all of it")
    elif topic in received:
        roles.append(f"{service} reads it")
    return (
        f"The Kafka topic `{topic}`: {' and '.join(roles)}. Every record is an envelope whose"
        " `type` is one of the messages here; a reader ignores types it does not know."
    )


def _receive_description(service: str, topic: str) -> str:
    if topic == SessionRevoked.topic:
        return (
            f"Every replica of {service} reads every revoked session, without a consumer group,"
            " from the last access token lifetime on, and refuses the session's tokens from"
            " then on."
        )
    return (
        f"{service} handles these events in its consumer group (each event by one replica),"
        " at least once and effectively once (its inbox skips a redelivery); other event types"
        " on the topic are ignored. An event it can never apply goes to its dead-letter topic."
    )


def _event_message(event: type[EventData]) -> dict[str, Any]:
    event_type = event.event_type()
    payload = embedded_schema(envelope_schema(), "#")
    payload["title"] = f"Envelope of {event_type}"
    properties = payload["properties"]
    properties["type"] = {**properties["type"], "const": event_type}
    properties["data"] = {"$ref": schema_pointer(event_type)}
    message: dict[str, Any] = {
        "name": event_type,
        "title": f"{event.name} v{event.version}",
        "summary": f"The event `{event.name}` (version {event.version}) on `{event.topic}`.",
        "contentType": EVENT_CONTENT_TYPE,
        "headers": _event_headers(event_type),
        "payload": payload,
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The aggregate's id: the envelope's `subject`. One"
                    " aggregate's events are on one partition, in order.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    own_doc = event.__dict__.get("__doc__")
    if own_doc:
        message["description"] = inspect.cleandoc(own_doc)
    return message


def _event_headers(event_type: str) -> dict[str, Any]:
    """The Kafka headers of an event's record (the outbox relay's; the broker's telemetry adds
    the trace context)."""
    return {
        "type": "object",
        "required": ["content-type", "ce_id", "ce_type"],
        "properties": {
            "content-type": {"type": "string", "const": EVENT_CONTENT_TYPE},
            "ce_id": {"type": "string", "description": "The envelope's `id`."},
            "ce_type": {
                "type": "string",
                "const": event_type,
                "description": "The envelope's `type`: a reader may skip a record by it.",
            },
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "tracestate": {"type": "string", "description": "W3C trace context."},
        },
    }


def _dead_letter_message(service: str) -> dict[str, Any]:
    return {
        "name": DEAD_LETTER_MESSAGE,
        "title": "A dead letter",
        "summary": f"A record {service} could never apply, as it came, with where from and why.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "required": list(DEAD_LETTER_HEADERS),
            "properties": {
                name: {"type": "string", "description": about}
                for name, about in DEAD_LETTER_HEADERS.items()
            },
        },
        "payload": {
            "description": "The record's value exactly as it was read: normally the envelope"
            " of an event this service receives, but it may be unreadable (that may be why it"
            " is here)."
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": ["string", "null"],
                    "description": "The original record's key, kept.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _info_description(service: str) -> str:
    return (
        f"The Kafka topics the ЭМК {service} service publishes to and reads, and every event"
        " type on them, generated from its code. Every record's value is an envelope"
        " (CloudEvents 1.0, structured JSON) whose `type` names the event"
        " (`<topic>.<Name>.v<N>`) and whose `data` follows that event's schema"
        " (`components.schemas`, the same JSON Schemas as the repository's `docs/events/`). The"
        " record's key is the envelope's `subject`, the aggregate's id: one aggregate's events"
        " are in order on one partition. Delivery is at least once: the envelope's `id` is the"
        " idempotency key. Readers ignore fields and event types they do not know; a change"
        " that would break a reader is a new version of the event type (`.v2`). Events carry"
        " ids, statuses, dates and codes, never personal data. The brokers, and the consumer"
        " groups, are the deployment's."
    )
