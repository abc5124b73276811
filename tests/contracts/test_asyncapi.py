"""``docs/asyncapi/<service>.json``: each service's AsyncAPI 3.0 document exactly as its built app
serves it at ``/asyncapi.json``, valid against the vendored AsyncAPI 3.0 JSON Schema, true to the
table of who publishes and reads what (``emk_devstack.topology``), each event a message whose
data is its ``docs/events`` schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft7Validator

from emk_common import asyncapi
from emk_common.catalog import CATALOG
from emk_devstack import contracts, topology
from emk_devstack.ports import SERVICES

from .support import DOCS, EVENTS, MACHINE_PATHS

ASYNCAPI = DOCS / "asyncapi"
SCHEMA_DIR = ASYNCAPI / "schema"
REGENERATE = "run `python -m emk_devstack.contracts asyncapi` and commit docs/asyncapi"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """The documents as the services serve them now (the apps are built in child processes)."""
    return contracts.asyncapi_documents()


def _committed(service: str) -> dict[str, Any]:
    path = ASYNCAPI / contracts.asyncapi_file(service)
    assert path.is_file(), f"docs/asyncapi/{path.name} is missing: {REGENERATE}"
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} does not point into the document"
    node: Any = document
    for step in ref[2:].split("/"):
        node = node[step.replace("~1", "/").replace("~0", "~")]
    return node


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


def _operation_events(document: dict[str, Any], name: str) -> set[str]:
    return {
        _resolve(document, _resolve(document, ref["$ref"])["$ref"])["name"]
        for ref in document["operations"][name]["messages"]
    }


def _channel_events(document: dict[str, Any], topic: str) -> set[str]:
    return {
        _resolve(document, ref["$ref"])["name"]
        for ref in document["channels"][topic]["messages"].values()
    }


def _on(topic: str) -> set[str]:
    return {cls.event_type() for cls in CATALOG.values() if cls.topic == topic}


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_what_the_service_serves(
    service: str, generated: dict[str, str]
) -> None:
    name = contracts.asyncapi_file(service)
    path = ASYNCAPI / name
    assert path.is_file(), f"docs/asyncapi/{name} is missing: {REGENERATE}"
    assert path.read_text("utf-8") == generated[name], f"docs/asyncapi/{name}: {REGENERATE}"


def test_only_the_services_documents_and_the_schema() -> None:
    found = sorted(p.name for p in ASYNCAPI.iterdir())
    assert found == sorted([*(contracts.asyncapi_file(s) for s in SERVICES), "schema"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_document_is_valid_asyncapi_3(service: str) -> None:
    schema = json.loads((SCHEMA_DIR / "asyncapi-3.0.0.json").read_text("utf-8"))
    document = _committed(service)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in Draft7Validator(schema).iter_errors(document)
    ]
    assert not errors, "\n".join(errors)
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == f"ЭМК — {service} — events"


def test_the_vendored_schema_keeps_its_licence() -> None:
    assert "Apache License" in (SCHEMA_DIR / "LICENSE").read_text("utf-8")
    assert "AsyncAPI Initiative" in (SCHEMA_DIR / "NOTICE").read_text("utf-8")
    schema = json.loads((SCHEMA_DIR / "asyncapi-3.0.0.json").read_text("utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_says_what_the_table_says(service: str) -> None:
    """Every topic the table gives the service is a channel with its operation, and no other is
    there but its dead-letter topic: what it publishes lists every event of the topic, what it
    reads lists the events on the topic (its receive operation, those it handles)."""
    document = _committed(service)
    flows = topology.TABLE[service]
    dead_letters = topology.dead_letter_topic(service)
    assert sorted(document["channels"]) == sorted({*flows.publishes, *flows.consumes, dead_letters})
    sends = {op["channel"]["$ref"] for op in document["operations"].values() if _sends(op)}
    receives = {op["channel"]["$ref"] for op in document["operations"].values() if not _sends(op)}
    assert sends == {f"#/channels/{t}" for t in (*flows.publishes, dead_letters)}
    assert receives == {f"#/channels/{t}" for t in flows.consumes}
    for topic in flows.publishes:
        assert _on(topic), f"the catalog has no event on {topic}"
        assert _channel_events(document, topic) == _on(topic), topic
        assert _operation_events(document, f"send.{topic}") == _on(topic), topic
    for topic in flows.consumes:
        assert _channel_events(document, topic) == _on(topic), topic
        handled = _operation_events(document, f"receive.{topic}")
        assert handled, f"{service} reads {topic} but handles none of its events"
        assert handled <= _on(topic), topic
    assert _operation_events(document, f"send.{dead_letters}") == {"DeadLetter"}
    headers = _resolve(document, "#/components/messages/DeadLetter")["headers"]
    assert headers["required"] == [
        "original_topic",
        "original_partition",
        "original_offset",
        "handler",
        "exc_class",
        "reason",
    ]


def _sends(operation: dict[str, Any]) -> bool:
    return bool(operation["action"] == "send")


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves(service: str) -> None:
    document = _committed(service)
    for ref in set(_refs(document)):
        _resolve(document, ref)
    for name, operation in document["operations"].items():
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/"), name
    assert '"$id"' not in json.dumps(document), "an embedded $id changes what references mean"


@pytest.mark.parametrize("service", SERVICES)
def test_each_messages_data_is_its_docs_events_schema(service: str) -> None:
    """An event's data schema in the document is the committed ``docs/events`` file, moved into
    the document (no ``$id``/``$schema``, references into it, no publishers' names)."""
    document = _committed(service)
    for event_type, message in document["components"]["messages"].items():
        if event_type == asyncapi.DEAD_LETTER_MESSAGE:
            continue
        assert message["name"] == event_type
        pointer = f"#/components/schemas/{event_type}"
        payload = message["payload"]
        assert payload["properties"]["data"] == {"$ref": pointer}
        assert payload["properties"]["type"]["const"] == event_type
        assert message["headers"]["properties"]["ce_type"]["const"] == event_type
        embedded = json.dumps(_resolve(document, pointer)).replace(
            f'"$ref": "{pointer}/', '"$ref": "#/'
        )
        path = EVENTS / contracts.event_file(CATALOG[event_type])
        if not path.is_file():
            pytest.fail(f"{path} is missing: run `{contracts.EVENTS_COMMAND}`")
        committed = json.loads(path.read_text("utf-8"))
        del committed["$id"], committed["$schema"]
        publisher = f", published by {contracts._publisher(CATALOG[event_type].topic)}"
        committed["description"] = committed["description"].replace(publisher, "", 1)
        assert json.loads(embedded) == committed, f"{service}: {event_type} differs from {path}"


def test_no_machine_paths() -> None:
    for path in ASYNCAPI.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md"):
            text = path.read_text("utf-8")
            for machine in MACHINE_PATHS:
                assert machine not in text, f"{path} names {machine}"
