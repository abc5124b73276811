"""deploy/compose.yaml, offline: valid against the Compose specification's JSON Schema
(deploy/schemas/compose-spec), and the whole platform in it, built from deploy/Dockerfile,
with no secret in the file."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from .support import DEPLOY, SCHEMAS, SERVICES, readers

INFRASTRUCTURE = {"kafka", "mongodb", "seaweedfs", "clamav", "traefik", "otel-collector", "jaeger"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "compose-spec" / "compose-spec.json").read_text())
    return jsonschema.Draft7Validator(schema)


def test_the_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []


def test_the_schema_refuses_what_compose_would(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["kafka"]["healthckeck"] = {}
    assert list(validator.iter_errors(broken))


def test_the_whole_platform_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert INFRASTRUCTURE | set(SERVICES) <= set(services)
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller", "Kafka in KRaft mode"
    assert "--replSet" in services["mongodb"]["command"]
    for name in SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["build"]["args"] == {"SERVICE": name}
        assert service["read_only"] is True
        assert service["user"] != "0"
        assert service["healthcheck"]["test"]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag not in ("", "latest"), f"{name}: {image}"
        assert "/" not in tag, f"{name}: {image}"


def test_no_secret_is_in_the_file(compose: dict[str, Any]) -> None:
    secret = re.compile(r"(KEY|KEYS|SECRET|PASSWORD|TOKEN)$")
    for name, service in compose["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            assert not secret.search(variable), f"{name}: {variable} (put it in var/compose.env)"
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", str(value)), f"{name}: {variable}"
        for env_file in service.get("env_file", []):
            path = env_file["path"] if isinstance(env_file, dict) else env_file
            # var/ is git-ignored: the keys made on the machine stay there.
            assert path.startswith("../var/"), f"{name}: {path}"


def test_every_variable_is_a_setting(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        for variable in compose["services"][name]["environment"]:
            assert readers(variable), f"{name}: {variable}"


def test_the_gateway_routes_nothing_internal(compose: dict[str, Any]) -> None:
    routes = yaml.safe_load(compose["configs"]["traefik-routes"]["content"])["http"]
    rules = {name: router["rule"] for name, router in routes["routers"].items()}
    paths = [
        p for rule in rules.values() for p in re.findall(r"Path(?:Prefix)?\(`([^`]*)`\)", rule)
    ]
    assert paths
    for path in paths:
        for hidden in ("/internal", "/docs", "/asyncapi", "/metrics", "/openapi.json"):
            assert not hidden.startswith(path.rstrip("/") + "/"), path
            assert not path.startswith(hidden), path
    for name in SERVICES:
        assert f"PathPrefix(`/api/v1/{name}`)" in rules[name]
    assert "public-rate-limit" in routes["routers"]["records-public"]["middlewares"]
    assert "/check/" in rules["records-public"]
