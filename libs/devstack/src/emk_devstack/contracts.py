"""The platform's published contracts for other teams, generated from the code.

``python -m emk_devstack.contracts openapi`` writes ``docs/openapi.json``: one OpenAPI document
of every public route behind the API gateway (``/api/v1/<service>`` and ``/check/``), merged
from the five services' own documents. Each app is built as ``main.py`` builds it, in its own
process with a clean environment (only ``PATH``, ``HOME``, ``LANG``, ``TMPDIR``) and keys made
up there: building connects to nothing, and a running stack's settings never leak in.

``python -m emk_devstack.contracts events`` writes ``docs/events/``: a JSON Schema (draft
2020-12) of every event type of the catalog (``<topic>/<Name>.v<N>.json``, the envelope's
``data``), the envelope's own schema and an index (``README.md``) of the topics, their events,
publisher and consumers (``emk_devstack.topology.TABLE``).

``python -m emk_devstack.contracts asyncapi`` writes ``docs/asyncapi/<service>.json``: each
service's AsyncAPI 3.0 document (``emk_common.asyncapi``) exactly as its built app serves it at
``/asyncapi.json`` — the topics it publishes and reads, every event type on them as a message
with its schema, its dead-letter topic.

A committed event schema is a promise to its consumers. The generator refuses to overwrite one
with a change that would break them (:func:`breaking_changes`): such a change is a new event
type (raise the class's ``version``), and the old version's file stays. ``--check`` writes
nothing and fails when a file is out of date. Paths are relative to the repository's root.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common import asyncapi
from emk_common.asyncapi import ENVELOPE_FILE as ENVELOPE_FILE  # made there, used here too
from emk_common.asyncapi import envelope_schema as envelope_schema
from emk_common.asyncapi import event_file as event_file
from emk_common.catalog import CATALOG
from emk_common.settings import ServiceSettings, encode_keyring
from emk_devstack import topology
from emk_devstack.gateway import dynamic_config
from emk_devstack.ports import SERVICES

OPENAPI_OUTPUT = Path("docs/openapi.json")
EVENTS_OUTPUT = Path("docs/events")
ASYNCAPI_OUTPUT = Path("docs/asyncapi")
# The local gateway of ``make run``; production serves the same paths on the gateway's host.
GATEWAY_URL = "http://127.0.0.1:8000"
# The event schemas' dialect (emk_common.asyncapi makes them).
DIALECT = asyncapi.DIALECT
INDEX_FILE = "README.md"
# Never published, whatever prefix they sit under: each service keeps them on its own port.
HIDDEN_SEGMENTS = frozenset(
    {"internal", "docs", "redoc", "openapi.json", "asyncapi", "metrics", "healthz", "readyz"}
)
# What a child process building an app may see of this one's environment.
CLEAN_ENV = ("PATH", "HOME", "LANG", "TMPDIR")
BUILD_TIMEOUT_SECONDS = 120.0

OPENAPI_COMMAND = "python -m emk_devstack.contracts openapi"
EVENTS_COMMAND = "python -m emk_devstack.contracts events"
ASYNCAPI_COMMAND = "python -m emk_devstack.contracts asyncapi"
# What a child of service_documents makes of a built app.
KINDS = ("openapi", "asyncapi")


def dumps(document: Any) -> str:
    """The one way a generated JSON file is written: sorted keys, two spaces, UTF-8 text."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- building the apps (in a child process) ----------------------------------------------------


def _made_up_keys(service: str) -> dict[str, Any]:
    """Keys in the shapes the settings expect: enough for ``build`` to succeed, used for nothing."""
    key = os.urandom(32)
    otp = X25519PrivateKey.generate()
    keys = {
        "signing_keys": encode_keyring({"k1": Ed25519PrivateKey.generate().private_bytes_raw()}),
        "emk_field_keys": encode_keyring({"f1": key}),
        "emk_blind_index_key": base64.urlsafe_b64encode(key).decode(),
    }
    extra = {
        "identity": {
            "notifications_otp_public_keys": encode_keyring(
                {"o1": otp.public_key().public_bytes_raw()}
            )
        },
        "documents": {"master_keys": encode_keyring({"m1": key})},
        "notifications": {"otp_private_keys": encode_keyring({"o1": otp.private_bytes_raw()})},
    }
    return keys | extra.get(service, {})


def build_app(service: str) -> Any:
    """``service``'s app, built as ``main.py`` builds it but with made-up keys and no server:
    building connects to nothing. Building sets process-wide logging and telemetry — call it
    in a child process (tests/deploy's topology check does too)."""
    module = importlib.import_module(f"{service}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and value.service_name == service
    ]
    if not classes:
        raise LookupError(f"{service}.settings has no ServiceSettings subclass for {service}")
    settings = classes[0](**_made_up_keys(service))
    return importlib.import_module(f"{service}.app").build(settings)


def _service_openapi(service: str) -> dict[str, Any]:
    """``service``'s OpenAPI document, from its built app."""
    document: dict[str, Any] = build_app(service).openapi()
    return document


def _service_asyncapi(service: str) -> dict[str, Any]:
    """``service``'s AsyncAPI document as its built app serves it (``GET /asyncapi.json``; no
    lifespan: nothing connects)."""

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=build_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            response = await client.get("/asyncapi.json")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    return asyncio.run(fetch())


def clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name in CLEAN_ENV}


def service_documents(
    services: Sequence[str] = SERVICES, kind: str = "openapi"
) -> dict[str, dict[str, Any]]:
    """Each service's own OpenAPI (or, ``kind="asyncapi"``, AsyncAPI) document, each built in a
    child process of its own (building an app sets process-wide logging and telemetry), all at
    once."""
    if kind not in KINDS:
        raise ValueError(f"no such document: {kind}")
    with tempfile.TemporaryDirectory(prefix="emk-contracts-") as scratch:
        work = Path(scratch)
        children: dict[str, subprocess.Popen[str]] = {}
        for service in services:
            out = work / f"{service}.json"
            children[service] = subprocess.Popen(
                [sys.executable, "-m", "emk_devstack.contracts", "_build", service, str(out), kind],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=work,
                env=clean_environment(),
            )
        documents: dict[str, dict[str, Any]] = {}
        failures: list[str] = []
        for service, child in children.items():
            try:
                output, _ = child.communicate(timeout=BUILD_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                output, _ = child.communicate()
            if child.returncode != 0:
                failures.append(f"building {service} failed:\n{output[-4000:]}")
                continue
            documents[service] = json.loads((work / f"{service}.json").read_text("utf-8"))
        if failures:
            raise RuntimeError("\n".join(failures))
        return documents


# --- one OpenAPI document ------------------------------------------------------------------


_PATH_PREFIX = re.compile(r"PathPrefix\(`([^`]+)`\)")
_SCHEMA_REF = "#/components/schemas/"


def gateway_prefixes() -> dict[str, tuple[str, ...]]:
    """The path prefixes the gateway routes to each service, read from its own routers."""
    config = dynamic_config(dict.fromkeys(SERVICES, "http://service"), origins=())
    routers: Mapping[str, Mapping[str, Any]] = config["http"]["routers"]  # type: ignore[index]
    prefixes: dict[str, set[str]] = {}
    for router in routers.values():
        found = _PATH_PREFIX.findall(str(router["rule"]))
        prefixes.setdefault(str(router["service"]), set()).update(found)
    return {service: tuple(sorted(found)) for service, found in prefixes.items()}


def is_public(path: str, prefixes: Iterable[str]) -> bool:
    """Whether the gateway serves ``path``: under one of the service's prefixes, and none of
    the paths each service keeps on its own port."""
    if any(segment in HIDDEN_SEGMENTS for segment in path.split("/")):
        return False
    return any(path.startswith(prefix) for prefix in prefixes)


def _walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_refs(item)


def _schema_name(ref: str) -> str:
    if not ref.startswith(_SCHEMA_REF):
        raise ValueError(f"a reference this merge does not know: {ref}")
    return ref[len(_SCHEMA_REF) :]


def _reachable_schemas(paths: Mapping[str, Any], schemas: Mapping[str, Any]) -> list[str]:
    """The component schemas ``paths`` use, directly or through other schemas."""
    seen: set[str] = set()
    todo = [_schema_name(ref) for ref in _walk_refs(paths)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise ValueError(f"a reference to a schema that is not there: {name}")
        seen.add(name)
        todo.extend(_schema_name(ref) for ref in _walk_refs(schemas[name]))
    return sorted(seen)


def _used_security_schemes(paths: Mapping[str, Any]) -> set[str]:
    return {
        name
        for item in paths.values()
        for operation in item.values()
        if isinstance(operation, Mapping)
        for requirement in operation.get("security", [])
        for name in requirement
    }


def _renamed(node: Any, names: Mapping[str, str]) -> Any:
    """``node`` with every reference to a schema in ``names`` pointing at its new name."""
    if isinstance(node, Mapping):
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF):
                result[key] = _SCHEMA_REF + names.get(_schema_name(value), _schema_name(value))
            else:
                result[key] = _renamed(value, names)
        return result
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    return node


def _prefixed(service: str, name: str) -> str:
    return service[:1].upper() + service[1:] + name


def _description(documents: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "Every public route of the ЭМК platform as the API gateway serves it: `/api/v1/<service>`"
        " to each service and `/check/` to the public check page. A service's `/internal`"
        " paths, `/docs`, `/asyncapi`, `/metrics` and health checks are not routed by the"
        " gateway and are not here.",
        "",
        f"Locally the gateway is `{GATEWAY_URL}` (`make run`; `EMK_PORT_GATEWAY` changes the"
        " port); production serves the same paths on the gateway's host.",
        "",
        "Conventions (errors, dates, authentication): `../shared/API.md`. Generated by"
        f" `{OPENAPI_COMMAND}` from the services' own documents; do not edit by hand.",
        "",
    ]
    for service, document in documents.items():
        info = document.get("info", {})
        lines.append(f"- **{service}** (`/api/v1/{service}`): {info.get('description', '')}")
    return "\n".join(lines)


def merge_openapi(
    documents: Mapping[str, Mapping[str, Any]],
    prefixes: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """One OpenAPI document of the routes of ``documents`` (service → its own document) the
    gateway serves (``prefixes``: service → the path prefixes routed to it).

    Only the component schemas and security schemes those routes use are kept. A schema name
    two services define differently is prefixed with each one's service (``Status`` →
    ``IdentityStatus``, ``ApplicationsStatus``); identical ones are kept once.
    """
    kept_paths: dict[str, dict[str, Any]] = {}
    kept_schemas: dict[str, dict[str, Any]] = {}
    for service, document in documents.items():
        routed = prefixes.get(service, ())
        kept_paths[service] = {
            path: item
            for path, item in document.get("paths", {}).items()
            if is_public(path, routed)
        }
        schemas = document.get("components", {}).get("schemas", {})
        kept_schemas[service] = {
            name: schemas[name] for name in _reachable_schemas(kept_paths[service], schemas)
        }

    definitions: dict[str, set[str]] = {}
    for schemas in kept_schemas.values():
        for name, schema in schemas.items():
            definitions.setdefault(name, set()).add(dumps(schema))
    clashing = {name for name, found in definitions.items() if len(found) > 1}

    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    security: dict[str, Any] = {}
    operation_ids: set[str] = set()
    tags: dict[str, set[str]] = {}
    for service, document in documents.items():
        names = {
            name: _prefixed(service, name) for name in kept_schemas[service] if name in clashing
        }
        for name, schema in kept_schemas[service].items():
            new_name = names.get(name, name)
            if name in names and new_name in definitions:
                raise ValueError(f"{service}: the prefixed name {new_name} is taken")
            components[new_name] = _renamed(schema, names)
        for path, item in kept_paths[service].items():
            if path in paths:
                raise ValueError(f"{path} is served by two services")
            paths[path] = _renamed(item, names)
            for operation in item.values():
                if not isinstance(operation, Mapping):
                    continue
                operation_id = operation.get("operationId")
                if operation_id is not None:
                    if operation_id in operation_ids:
                        raise ValueError(f"operationId {operation_id} is used twice")
                    operation_ids.add(operation_id)
                for tag in operation.get("tags", []):
                    tags.setdefault(tag, set()).add(service)
        schemes = document.get("components", {}).get("securitySchemes", {})
        for name in sorted(_used_security_schemes(kept_paths[service])):
            if name in security and security[name] != schemes[name]:
                raise ValueError(f"security scheme {name} differs between services")
            security[name] = schemes[name]

    versions = {document.get("openapi") for document in documents.values()}
    if len(versions) != 1:
        raise ValueError(
            f"the services speak different OpenAPI versions: {sorted(map(str, versions))}"
        )
    info_versions = sorted({str(d.get("info", {}).get("version", "")) for d in documents.values()})
    merged: dict[str, Any] = {
        "openapi": versions.pop(),
        "info": {
            "title": "ЭМК — the public HTTP API (through the gateway)",
            "version": ", ".join(info_versions),
            "description": _description(documents),
        },
        "servers": [
            {
                "url": GATEWAY_URL,
                "description": "The local API gateway (`make run`). Production serves the same"
                " paths on the gateway's host.",
            }
        ],
        "tags": [
            {"name": tag, "description": "Served by " + ", ".join(sorted(services)) + "."}
            for tag, services in sorted(tags.items())
        ],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": security},
    }
    return merged


def openapi_text(documents: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The text of ``docs/openapi.json``: built from the five services unless given."""
    built = service_documents() if documents is None else documents
    return dumps(merge_openapi(built, gateway_prefixes()))


# --- event schemas -------------------------------------------------------------------------


def _publisher(topic: str) -> str:
    owners = [s for s, flows in topology.TABLE.items() if topic in flows.publishes]
    return ", ".join(owners) or "nobody"


def _consumers(topic: str) -> list[str]:
    return [s for s, flows in topology.TABLE.items() if topic in flows.consumes]


def event_schema(event: type[Any]) -> dict[str, Any]:
    """The JSON Schema of one event type's ``data`` (``emk_common.asyncapi.event_schema``, which
    the services' AsyncAPI documents embed too), naming its topic's publisher from the table."""
    return asyncapi.event_schema(event, _publisher(event.topic))


def events_index(events: Iterable[type[Any]]) -> str:
    by_topic: dict[str, list[type[Any]]] = {}
    for event in events:
        by_topic.setdefault(event.topic, []).append(event)
    lines = [
        "# Event schemas",
        "",
        f"Generated by `{EVENTS_COMMAND}` from the event catalog",
        "(`libs/common/src/emk_common/catalog.py`) and the table of who publishes and consumes",
        "each topic (`emk_devstack.topology.TABLE`). Do not edit by hand.",
        "",
        f"Every Kafka record is an envelope (`{ENVELOPE_FILE}`, CloudEvents 1.0, JSON) whose",
        "`type` names the event and whose `data` follows that event's schema here:",
        "`<topic>/<Name>.v<N>.json` (JSON Schema draft 2020-12). The record's key is the",
        "envelope's `subject` (the aggregate's id). Consumers ignore unknown fields and unknown",
        "types. A change that would break a consumer is a new version (`.v2`): the old version's",
        "schema stays here for as long as its events may still be read.",
        "",
        "| Topic | Publisher | Consumers | Events |",
        "| --- | --- | --- | --- |",
    ]
    for topic in sorted(by_topic):
        names = ", ".join(
            f"[{e.name}.v{e.version}]({event_file(e)})"
            for e in sorted(by_topic[topic], key=lambda e: (e.name, e.version))
        )
        consumers = ", ".join(_consumers(topic)) or "—"
        lines.append(f"| `{topic}` | {_publisher(topic)} | {consumers} | {names} |")
    lines += [
        "",
        "Dead letters go to each consumer's own `emk.<service>.dlq` (the failed record, as it",
        "came, with the error in its headers).",
        "",
    ]
    return "\n".join(lines)


def event_documents(events: Iterable[type[Any]] | None = None) -> dict[str, str]:
    """Every file of ``docs/events`` (its path there → its text)."""
    listed = list(CATALOG.values() if events is None else events)
    files = {event_file(event): dumps(event_schema(event)) for event in listed}
    files[ENVELOPE_FILE] = dumps(envelope_schema())
    files[INDEX_FILE] = events_index(listed)
    return dict(sorted(files.items()))


# --- compatibility -------------------------------------------------------------------------


# Words about a value, not its shape: changing them breaks nobody.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "$id", "$schema"}
)


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot follow {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _enum(node: Mapping[str, Any]) -> list[Any] | None:
    if "enum" in node:
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    return None


def _shape(node: Mapping[str, Any]) -> dict[str, Any]:
    """What is left of a schema to compare as a whole once its parts are compared apart."""
    handled = {"properties", "required", "items", "additionalProperties", "anyOf", "oneOf"}
    handled |= {"enum", "const", "prefixItems", "$defs"}
    return {k: v for k, v in node.items() if k not in _ANNOTATIONS and k not in handled}


def breaking_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What in ``new`` would break a consumer written against ``old`` (both JSON Schemas of one
    event's ``data``), one line each; ``[]`` when ``new`` is compatible.

    Breaking: a removed field, a changed type (a field's type, format, nullability, shape), a
    new required field (or an optional one made required), a removed enum value. Allowed: a new
    optional field, a new enum value, other words (titles, descriptions, defaults).
    """
    found: list[str] = []
    _compare(old, new, "", old, new, found)
    return found


def _compare(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    where: str,
    old_root: Mapping[str, Any],
    new_root: Mapping[str, Any],
    found: list[str],
) -> None:
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    label = where or "the event"
    old_enum, new_enum = _enum(old), _enum(new)
    if old_enum is not None or new_enum is not None:
        if old_enum is None:
            found.append(f"{label}: changed type (now limited to {new_enum})")
        elif new_enum is not None:
            removed = [value for value in old_enum if value not in new_enum]
            if removed:
                found.append(f"{label}: removed enum value(s) {removed}")
    if _shape(old) != _shape(new):
        found.append(f"{label}: changed type from {_shape(old)} to {_shape(new)}")
        return
    for key in ("anyOf", "oneOf", "prefixItems"):
        old_options, new_options = old.get(key), new.get(key)
        if old_options is None and new_options is None:
            continue
        if old_options is None or new_options is None or len(old_options) != len(new_options):
            found.append(f"{label}: changed type ({key} {old_options} -> {new_options})")
            continue
        for index, (was, now) in enumerate(zip(old_options, new_options, strict=True)):
            _compare(was, now, f"{where}<{key}[{index}]>", old_root, new_root, found)
    for key in ("items", "additionalProperties"):
        was, now = old.get(key), new.get(key)
        if isinstance(was, Mapping) and isinstance(now, Mapping):
            _compare(
                was,
                now,
                f"{where}[]" if key == "items" else f"{where}{{}}",
                old_root,
                new_root,
                found,
            )
        elif was != now:
            found.append(f"{label}: changed type ({key} {was!r} -> {now!r})")
    old_properties: Mapping[str, Any] = old.get("properties", {})
    new_properties: Mapping[str, Any] = new.get("properties", {})
    prefix = f"{where}." if where else ""
    for name, schema in old_properties.items():
        if name not in new_properties:
            found.append(f"{prefix}{name}: removed field")
            continue
        _compare(schema, new_properties[name], prefix + name, old_root, new_root, found)
    old_required = set(old.get("required", []))
    for name in new.get("required", []):
        if name not in old_required:
            kind = (
                "optional field made required" if name in old_properties else "new required field"
            )
            found.append(f"{prefix}{name}: {kind}")


@dataclass
class Comparison:
    """The committed files of ``docs/events`` against freshly generated ones."""

    breaking: dict[str, list[str]] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def compare_event_files(committed: Mapping[str, str], generated: Mapping[str, str]) -> Comparison:
    """``committed`` and ``generated``: a path under ``docs/events`` → its text. A generated
    schema with no committed file is new (a new event, or a raised version); a committed file
    nothing generates any more (an older version) is left alone."""
    result = Comparison()
    for path, text in generated.items():
        current = committed.get(path)
        if current is None:
            result.missing.append(path)
            continue
        if current == text:
            continue
        if path.endswith(".json"):
            changes = breaking_changes(json.loads(current), json.loads(text))
            if changes:
                result.breaking[path] = changes
                continue
        result.stale.append(path)
    return result


def committed_files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {
        path.relative_to(directory).as_posix(): path.read_text("utf-8")
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".md")
    }


def breaking_message(breaking: Mapping[str, Sequence[str]]) -> str:
    lines = ["a change that would break the consumers of a committed event schema:"]
    for path, changes in breaking.items():
        lines += [f"  {path}:", *(f"    - {change}" for change in changes)]
    lines.append(
        "Keep the event compatible (make a new field optional, keep the old ones and their"
        " values), or raise its version (`version = N + 1` on the class in emk_common.catalog):"
        " a new file is written and the old one stays committed for the events already sent."
    )
    return "\n".join(lines)


# --- the services' AsyncAPI documents ----------------------------------------------------


def asyncapi_file(service: str) -> str:
    """Where ``service``'s AsyncAPI document lives under ``docs/asyncapi``."""
    return f"{service}.json"


def asyncapi_documents(
    documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """The files of ``docs/asyncapi`` made from the code (its name there → its text): each
    service's AsyncAPI document as its built app serves it, unless ``documents`` are given."""
    built = service_documents(kind="asyncapi") if documents is None else documents
    return {asyncapi_file(service): dumps(document) for service, document in built.items()}


# --- the command ---------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run_openapi(output: Path, *, check: bool) -> int:
    text = openapi_text()
    current = output.read_text("utf-8") if output.is_file() else None
    if current == text:
        return 0
    if check:
        print(f"out of date: {output}; run `{OPENAPI_COMMAND}`")
        return 1
    _write(output, text)
    print(f"wrote {output}")
    return 0


def run_events(output: Path, *, check: bool) -> int:
    generated = event_documents()
    result = compare_event_files(committed_files(output), generated)
    if result.breaking:
        print(breaking_message(result.breaking), file=sys.stderr)
        return 1
    changed = sorted(result.missing + result.stale)
    if check:
        if changed:
            print(f"out of date in {output}: {', '.join(changed)}; run `{EVENTS_COMMAND}`")
            return 1
        return 0
    for path in changed:
        _write(output / path, generated[path])
        print(f"wrote {output / path}")
    return 0


def run_asyncapi(output: Path, *, check: bool) -> int:
    """Write (or, ``check``, compare) ``<service>.json`` for each service; the vendored AsyncAPI
    JSON Schema beside them (``schema/``) is left alone."""
    generated = asyncapi_documents()
    changed = [
        name
        for name, text in generated.items()
        if not (output / name).is_file() or (output / name).read_text("utf-8") != text
    ]
    if check:
        if changed:
            print(f"out of date in {output}: {', '.join(changed)}; run `{ASYNCAPI_COMMAND}`")
            return 1
        return 0
    for name in changed:
        _write(output / name, generated[name])
        print(f"wrote {output / name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["_build"]:
        # A child of service_documents: build one app, write its OpenAPI or AsyncAPI document.
        _, service, out, kind = args_list
        make = _service_asyncapi if kind == "asyncapi" else _service_openapi
        Path(out).write_text(dumps(make(service)), encoding="utf-8")
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m emk_devstack.contracts",
        description="Write the published contracts: docs/openapi.json, docs/events/ and"
        " docs/asyncapi/.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, default, about in (
        ("openapi", OPENAPI_OUTPUT, "one OpenAPI document of the routes behind the gateway"),
        ("events", EVENTS_OUTPUT, "a JSON Schema of every event type, the envelope, an index"),
        ("asyncapi", ASYNCAPI_OUTPUT, "each service's AsyncAPI document, <service>.json"),
    ):
        command = commands.add_parser(name, help=about)
        command.add_argument(
            "--output",
            type=Path,
            default=default,
            help=f"where to write (default: {default}, from the repository root)",
        )
        command.add_argument(
            "--check", action="store_true", help="write nothing; fail if the files differ"
        )
    args = parser.parse_args(args_list)
    if args.command == "openapi":
        return run_openapi(args.output, check=args.check)
    if args.command == "asyncapi":
        return run_asyncapi(args.output, check=args.check)
    return run_events(args.output, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
