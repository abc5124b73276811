"""``docs/events``: a committed JSON Schema for every event type of the catalog, none changed in
a way that breaks a consumer (that is a new version), all of them current."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from emk_common import catalog
from emk_common.catalog import CATALOG
from emk_common.events import Envelope, EventData
from emk_devstack import contracts

from .support import EVENTS, MACHINE_PATHS

REGENERATE = "run `python -m emk_devstack.contracts events` and commit docs/events"
GENERATED = contracts.event_documents()
COMMITTED = contracts.committed_files(EVENTS)
SCHEMA_FILES = sorted(path for path in GENERATED if path.endswith(".json"))
_FILE = re.compile(r"^(?P<topic>[a-z.]+)/(?P<name>[A-Za-z]+)\.v(?P<version>[0-9]+)\.json$")


@pytest.mark.parametrize("event_type", sorted(CATALOG))
def test_every_catalog_event_has_a_committed_schema(event_type: str) -> None:
    path = contracts.event_file(CATALOG[event_type])
    assert path in COMMITTED, f"docs/events/{path} is missing for {event_type}: {REGENERATE}"


@pytest.mark.parametrize("path", SCHEMA_FILES)
def test_no_change_breaks_a_consumer(path: str) -> None:
    if path not in COMMITTED:
        pytest.fail(f"docs/events/{path} is not committed: {REGENERATE}")
    changes = contracts.breaking_changes(json.loads(COMMITTED[path]), json.loads(GENERATED[path]))
    assert not changes, contracts.breaking_message({path: changes})


def test_the_committed_files_are_current() -> None:
    stale = sorted(path for path, text in GENERATED.items() if COMMITTED.get(path) != text)
    assert not stale, f"out of date in docs/events: {', '.join(stale)}; {REGENERATE}"


def test_a_schema_no_event_has_is_an_older_version() -> None:
    """A file the catalog does not make any more is an older version of one of its events,
    kept for the events already sent; an event removed altogether has its file removed."""
    current = {(cls.topic, cls.name): cls.version for cls in CATALOG.values()}
    for path in COMMITTED:
        if path in GENERATED:
            continue
        match = _FILE.match(path)
        assert match, f"docs/events/{path} is not a generated file"
        key = (match["topic"], match["name"])
        assert key in current, (
            f"docs/events/{path}: the catalog has no {match['name']} on {match['topic']} any more;"
            " remove the file if the event is gone for good"
        )
        assert int(match["version"]) < current[key], f"docs/events/{path} is newer than the code"


@pytest.mark.parametrize("path", [*SCHEMA_FILES])
def test_each_schema_says_what_it_is(path: str) -> None:
    schema = json.loads(COMMITTED.get(path, GENERATED[path]))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://emk.example/events/{path}"
    if path == contracts.ENVELOPE_FILE:
        assert schema["title"] == "Envelope"
        assert set(schema["required"]) == set(schema["properties"])
        return
    event_type = schema["x-event-type"]
    cls = CATALOG[event_type]
    assert schema["title"] == event_type
    assert schema["x-topic"] == cls.topic
    assert event_type in schema["description"]
    assert cls.topic in schema["description"]


def test_the_index_lists_every_topic_and_event() -> None:
    index = COMMITTED.get(contracts.INDEX_FILE, "")
    for cls in CATALOG.values():
        assert f"({contracts.event_file(cls)})" in index, f"{cls.event_type()} not in the index"
    for topic in catalog.TOPICS:
        assert f"| `{topic}` |" in index


def test_no_machine_paths() -> None:
    for path, text in COMMITTED.items():
        for machine in MACHINE_PATHS:
            assert machine not in text, f"docs/events/{path} names {machine}"


AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
EXAMPLES: list[EventData] = [
    catalog.ApplicationSubmitted(
        application_id="a1", applicant_id="u1", number="2026-000001", due_date=date(2026, 3, 31)
    ),
    catalog.ApplicationStatusChanged(
        application_id="a1", applicant_id="u1", status="in_review", previous_status="submitted"
    ),
    catalog.BookDueDatesChanged(
        book_id="b1",
        holder_id="u1",
        due=[catalog.DueItem(item_id="r1", kind="periodic_exam", due_date=date(2027, 3, 1))],
    ),
    catalog.DeliverOtp(
        user_id="u1",
        channel="sms",
        purpose="login",
        expires_at=AT,
        sealed=catalog.SealedBox(kid="o1", ephemeral_public_key="k", nonce="n", ciphertext="c"),
    ),
    catalog.UserRegistered(user_id="u1"),
]


def _validator(path: str) -> Draft202012Validator:
    schema: dict[str, Any] = json.loads(COMMITTED.get(path, GENERATED[path]))
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda data: type(data).__name__)
def test_a_published_event_follows_its_schemas(data: EventData) -> None:
    envelope = json.loads(Envelope.wrap(data, source="test", subject="s1", at=AT).to_bytes())
    _validator(contracts.ENVELOPE_FILE).validate(envelope)
    _validator(contracts.event_file(type(data))).validate(envelope["data"])
