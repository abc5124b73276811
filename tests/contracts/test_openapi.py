"""``docs/openapi.json``: the frontend's one document of the routes behind the gateway, as the
five services' built apps describe them, and nothing the gateway does not route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emk_devstack import contracts
from emk_devstack.ports import SERVICES

from .support import MACHINE_PATHS, OPENAPI

REGENERATE = "run `python -m emk_devstack.contracts openapi` and commit docs/openapi.json"


@pytest.fixture(scope="module")
def generated() -> str:
    """The document as the code makes it now (the apps are built in child processes)."""
    return contracts.openapi_text()


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    assert OPENAPI.is_file(), f"docs/openapi.json is missing: {REGENERATE}"
    document: dict[str, Any] = json.loads(OPENAPI.read_text("utf-8"))
    return document


def test_the_committed_document_is_what_the_services_serve(generated: str) -> None:
    current = OPENAPI.read_text("utf-8")
    assert current == generated, f"docs/openapi.json is out of date: {REGENERATE}"


def test_only_the_paths_the_gateway_routes(committed: dict[str, Any]) -> None:
    public = (*(f"/api/v1/{service}" for service in SERVICES), "/check/")
    for path in committed["paths"]:
        assert path.startswith(public), f"{path} is not routed by the gateway"
        segments = set(path.split("/"))
        assert not segments & contracts.HIDDEN_SEGMENTS, f"{path} must not be published"
    text = json.dumps(committed["paths"])
    for hidden in ("/internal", "/docs", "/readyz", "/healthz", "/asyncapi", "/metrics"):
        assert f'"{hidden}' not in text, f"{hidden} is in docs/openapi.json"
    assert "/.well-known/jwks.json" not in committed["paths"]


def test_every_service_and_the_public_check_are_there(committed: dict[str, Any]) -> None:
    paths = list(committed["paths"])
    for service in SERVICES:
        assert any(p.startswith(f"/api/v1/{service}") for p in paths), f"no {service} route"
    assert "/check/{code}" in paths
    assert "/api/v1/records/verify/{code}" in paths


def test_one_server_the_local_gateway(committed: dict[str, Any]) -> None:
    assert [server["url"] for server in committed["servers"]] == ["http://127.0.0.1:8000"]
    assert "production" in committed["servers"][0]["description"].lower()
    assert committed["openapi"].startswith("3.1")


def test_every_reference_resolves(committed: dict[str, Any]) -> None:
    schemas = committed["components"]["schemas"]
    refs = set(contracts._walk_refs(committed))
    assert refs, "no references at all: the document lost its schemas"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[-1] in schemas, f"{ref} points nowhere"
    for operation in (op for item in committed["paths"].values() for op in item.values()):
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(committed["components"]["securitySchemes"])


def test_no_machine_paths() -> None:
    text = OPENAPI.read_text("utf-8")
    for path in MACHINE_PATHS:
        assert path not in text


# --- the merge, on hand-made documents ------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1.0.0", "description": "d"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "AccessToken": {"type": "http", "scheme": "bearer"},
                "ServiceToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _get(schema: str, *, tag: str, security: str = "AccessToken") -> dict[str, Any]:
    response = {"content": {"application/json": {"schema": _ref(schema)}}}
    return {
        "get": {
            "operationId": f"get_{tag}_{schema}",
            "tags": [tag],
            "security": [{security: []}],
            "responses": {"200": response},
        }
    }


def test_merge_keeps_routed_paths_and_the_schemas_they_use() -> None:
    a = _document(
        {
            "/api/v1/a/things": _get("Thing", tag="a"),
            "/internal/v1/things": _get("Secret", tag="internal", security="ServiceToken"),
            "/healthz": _get("Liveness", tag="health"),
            "/api/v1/a/internal/x": _get("Secret", tag="a"),
        },
        {
            "Thing": {"type": "object", "properties": {"s": _ref("Status"), "p": _ref("Problem")}},
            "Status": {"enum": ["x"], "type": "string"},
            "Problem": {"type": "object"},
            "Secret": {"type": "object"},
            "Liveness": {"type": "object"},
        },
    )
    b = _document(
        {"/api/v1/b": _get("Status", tag="b"), "/check/{code}": _get("Problem", tag="b")},
        {"Status": {"enum": ["y"], "type": "string"}, "Problem": {"type": "object"}},
    )
    merged = contracts.merge_openapi(
        {"a": a, "b": b}, {"a": ("/api/v1/a",), "b": ("/api/v1/b", "/check/")}
    )
    assert sorted(merged["paths"]) == ["/api/v1/a/things", "/api/v1/b", "/check/{code}"]
    schemas = merged["components"]["schemas"]
    # Different schemas of one name: each service's own; identical ones: once.
    assert sorted(schemas) == ["AStatus", "BStatus", "Problem", "Thing"]
    assert schemas["Thing"]["properties"]["s"] == _ref("AStatus")
    assert schemas["Thing"]["properties"]["p"] == _ref("Problem")
    response = merged["paths"]["/api/v1/b"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == _ref("BStatus")
    assert sorted(merged["components"]["securitySchemes"]) == ["AccessToken"]
    assert merged["servers"] == [
        {"url": contracts.GATEWAY_URL, "description": merged["servers"][0]["description"]}
    ]
    assert [tag["name"] for tag in merged["tags"]] == ["a", "b"]


def test_merge_refuses_one_path_from_two_services() -> None:
    a = _document({"/api/v1/x": _get("S", tag="a")}, {"S": {"type": "string"}})
    b = _document({"/api/v1/x": _get("S", tag="b")}, {"S": {"type": "string"}})
    with pytest.raises(ValueError, match="two services"):
        contracts.merge_openapi({"a": a, "b": b}, {"a": ("/api/v1/x",), "b": ("/api/v1/x",)})


def test_the_prefixes_are_the_gateways() -> None:
    prefixes = contracts.gateway_prefixes()
    assert set(prefixes) == set(SERVICES)
    for service in SERVICES:
        assert f"/api/v1/{service}" in prefixes[service]
    assert "/check/" in prefixes["records"]
    assert not contracts.is_public("/internal/v1/users/1", prefixes["identity"])
    assert not contracts.is_public("/api/v1/identity/internal/x", prefixes["identity"])
    assert contracts.is_public("/api/v1/identity/me", prefixes["identity"])
