"""``breaking_changes`` on hand-made schema pairs: each kind of change that breaks a consumer
is found, each allowed one is not; and the generator's refusal to overwrite a committed schema
with a breaking change."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from emk_devstack import contracts

Schema = dict[str, Any]

NULLABLE_STRING: Schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def event(properties: Schema, required: list[str], defs: Schema | None = None) -> Schema:
    schema: Schema = {
        "$schema": contracts.DIALECT,
        "$id": "https://emk.example/events/emk.test/Thing.v1.json",
        "title": "emk.test.Thing.v1",
        "type": "object",
        "properties": properties,
        "required": required,
    }
    if defs is not None:
        schema["$defs"] = defs
    return schema


BASE = event(
    {
        "thing_id": {"title": "Thing Id", "type": "string"},
        "status": {"enum": ["a", "b"], "title": "Status", "type": "string"},
        "when": {"format": "date", "title": "When", "type": "string"},
        "note": {**NULLABLE_STRING, "title": "Note"},
        "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"},
        "labels": {"additionalProperties": {"type": "string"}, "type": "object"},
        "due": {"items": {"$ref": "#/$defs/Due"}, "type": "array"},
    },
    ["thing_id", "status", "when", "due"],
    {
        "Due": {
            "type": "object",
            "properties": {
                "kind": {"enum": ["exam", "vaccination"], "type": "string"},
                "on": {"format": "date", "type": "string"},
            },
            "required": ["kind", "on"],
        }
    },
)


def changed(edit: Any) -> Schema:
    schema = copy.deepcopy(BASE)
    edit(schema)
    return schema


def _props(schema: Schema) -> Schema:
    properties: Schema = schema["properties"]
    return properties


def _due(schema: Schema) -> Schema:
    properties: Schema = schema["$defs"]["Due"]["properties"]
    return properties


BREAKING = {
    "removed field": lambda s: _props(s).pop("when"),
    "removed optional field": lambda s: _props(s).pop("note"),
    "changed type": lambda s: _props(s)["thing_id"].update(type="integer"),
    "changed format": lambda s: _props(s)["when"].update(format="date-time"),
    "nullable made plain": lambda s: _props(s).update(note={"type": "string", "default": ""}),
    "plain made nullable": lambda s: _props(s).update(thing_id=NULLABLE_STRING),
    "changed item type": lambda s: _props(s)["tags"]["items"].update(type="integer"),
    "changed value type": lambda s: _props(s)["labels"]["additionalProperties"].update(
        type="integer"
    ),
    "list made a string": lambda s: _props(s).update(tags={"type": "string"}),
    "new required field": lambda s: (
        _props(s).update(extra={"type": "string"}),
        s["required"].append("extra"),
    ),
    "optional made required": lambda s: s["required"].append("note"),
    "removed enum value": lambda s: _props(s)["status"].update(enum=["a"]),
    "string limited to an enum": lambda s: _props(s)["thing_id"].update(enum=["x"]),
    "removed nested field": lambda s: _due(s).pop("on"),
    "removed nested enum value": lambda s: _due(s)["kind"].update(enum=["exam"]),
    "new nested required field": lambda s: (
        _due(s).update(item={"type": "string"}),
        s["$defs"]["Due"]["required"].append("item"),
    ),
}

ALLOWED = {
    "nothing": lambda s: None,
    "new optional field": lambda s: _props(s).update(extra={**NULLABLE_STRING}),
    "new optional field with a default": lambda s: _props(s).update(
        flag={"type": "boolean", "default": False}
    ),
    "new enum value": lambda s: _props(s)["status"].update(enum=["a", "b", "c"]),
    "new nested enum value": lambda s: _due(s)["kind"].update(
        enum=["exam", "vaccination", "attestation"]
    ),
    "new nested optional field": lambda s: _due(s).update(item={**NULLABLE_STRING}),
    "words": lambda s: (
        s.update(description="Now described."),
        _props(s)["thing_id"].update(title="The thing", description="Its id."),
    ),
    "required made optional": lambda s: s["required"].remove("when"),
    "a nested model renamed": lambda s: (
        s["$defs"].update(DueItem=s["$defs"].pop("Due")),
        _props(s)["due"]["items"].update({"$ref": "#/$defs/DueItem"}),
    ),
}


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_a_change_that_breaks_a_consumer_is_found(kind: str) -> None:
    found = contracts.breaking_changes(BASE, changed(BREAKING[kind]))
    assert found, f"{kind} was not found"


@pytest.mark.parametrize("kind", sorted(ALLOWED))
def test_an_allowed_change_is_allowed(kind: str) -> None:
    assert contracts.breaking_changes(BASE, changed(ALLOWED[kind])) == []


def test_the_findings_name_the_field() -> None:
    assert contracts.breaking_changes(BASE, changed(BREAKING["removed field"])) == [
        "when: removed field"
    ]
    assert contracts.breaking_changes(BASE, changed(BREAKING["new required field"])) == [
        "extra: new required field"
    ]
    [removed] = contracts.breaking_changes(BASE, changed(BREAKING["removed nested enum value"]))
    assert removed.startswith("due[].kind: removed enum value")
    assert "'vaccination'" in removed


def test_a_literal_const_counts_as_an_enum() -> None:
    old = event({"v": {"const": "1.0", "type": "string"}}, ["v"])
    wider = event({"v": {"enum": ["1.0", "1.1"], "type": "string"}}, ["v"])
    other = event({"v": {"const": "2.0", "type": "string"}}, ["v"])
    assert contracts.breaking_changes(old, wider) == []
    assert contracts.breaking_changes(old, other)


# --- the files: a raised version is a new file, the old one stays --------------------------


def text(schema: Schema) -> str:
    return contracts.dumps(schema)


def test_a_raised_version_is_a_new_file_and_the_old_one_stays() -> None:
    v2 = changed(BREAKING["removed field"])
    committed = {"emk.test/Thing.v1.json": text(BASE), "README.md": "old index\n"}
    generated = {"emk.test/Thing.v2.json": text(v2), "README.md": "new index\n"}
    result = contracts.compare_event_files(committed, generated)
    assert result.breaking == {}
    assert result.missing == ["emk.test/Thing.v2.json"]
    assert result.stale == ["README.md"]


def test_a_breaking_change_in_place_is_refused() -> None:
    committed = {"emk.test/Thing.v1.json": text(BASE)}
    generated = {"emk.test/Thing.v1.json": text(changed(BREAKING["removed enum value"]))}
    result = contracts.compare_event_files(committed, generated)
    assert list(result.breaking) == ["emk.test/Thing.v1.json"]
    assert result.stale == []
    message = contracts.breaking_message(result.breaking)
    assert "raise its version" in message


def test_an_additive_change_is_only_stale() -> None:
    committed = {"emk.test/Thing.v1.json": text(BASE)}
    generated = {"emk.test/Thing.v1.json": text(changed(ALLOWED["new optional field"]))}
    result = contracts.compare_event_files(committed, generated)
    assert (result.breaking, result.stale, result.missing) == ({}, ["emk.test/Thing.v1.json"], [])


def test_the_generator_does_not_overwrite_a_schema_with_a_breaking_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As if the committed ApplicationSubmitted had a field the code has since removed."""
    assert contracts.main(["events", "--output", str(tmp_path)]) == 0
    path = tmp_path / "emk.applications" / "ApplicationSubmitted.v1.json"
    schema = json.loads(path.read_text("utf-8"))
    schema["properties"]["withdrawn_at"] = {"type": "string", "format": "date-time"}
    path.write_text(contracts.dumps(schema), encoding="utf-8")
    before = path.read_text("utf-8")
    capsys.readouterr()

    assert contracts.main(["events", "--output", str(tmp_path)]) == 1
    assert path.read_text("utf-8") == before
    assert "withdrawn_at: removed field" in capsys.readouterr().err
    assert contracts.main(["events", "--output", str(tmp_path), "--check"]) == 1
