"""What the deploy tests share: the repository's paths, the overlays as ``kubectl kustomize``
builds them, and the custom resources' schemas from the vendored CRDs."""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
KUBECTL = ROOT / ".tools" / "bin" / "kubectl"
OVERLAYS = ("dev", "prod")
# The Kubernetes release the manifests are checked against (kubectl's own: v1.33).
KUBERNETES_VERSION = "1.33"

Resource = dict[str, Any]


def kubectl() -> Path:
    """The pinned kubectl, or a failure that says how to install it (never a skip)."""
    if not (KUBECTL.is_file() and os.access(KUBECTL, os.X_OK)):
        pytest.fail(
            f"kubectl is not installed at {KUBECTL.relative_to(ROOT)}: run `make kubectl` "
            "(`make install` and `make test` do)",
            pytrace=False,
        )
    return KUBECTL


@functools.cache
def build(overlay: str) -> tuple[Resource, ...]:
    """The overlay's resources, as ``kubectl kustomize deploy/k8s/overlays/<overlay>``."""
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {overlay} failed:\n{done.stderr}", pytrace=False)
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def of_kind(resources: tuple[Resource, ...], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: tuple[Resource, ...], kind: str, name: str) -> Resource:
    for resource in of_kind(resources, kind):
        if resource["metadata"]["name"] == name:
            return resource
    raise AssertionError(f"no {kind} {name}")


def yaml_documents(path: Path) -> Iterator[Resource]:
    with path.open(encoding="utf-8") as file:
        yield from (d for d in yaml.safe_load_all(file) if d)


def closed(schema: Any) -> Any:
    """A CRD's schema with unknown fields refused, as ``kubectl apply`` (strict field
    validation) refuses them: an object that lists its properties, keeps no unknown fields
    and says nothing of others gets ``additionalProperties: false``. A misspelt field then
    fails here instead of being dropped silently by the API server."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if (
        result.get("type") == "object"
        and "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@functools.cache
def crd_schemas() -> dict[tuple[str, str], Resource]:
    """(apiVersion, kind) -> the closed openAPIV3Schema of every vendored CRD's versions."""
    found: dict[tuple[str, str], Resource] = {}
    for path in sorted(SCHEMAS.glob("*/*.yaml")):
        for crd in yaml_documents(path):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = closed(version["schema"]["openAPIV3Schema"])
    return found


def containers(workload: Resource) -> list[Resource]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels/matchExpressions) matches ``labels``."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


# --- the services' settings ---------------------------------------------------------------

SERVICES = ("identity", "applications", "documents", "records", "notifications")


@functools.cache
def settings_fields() -> dict[str, frozenset[str]]:
    """Each service's settings' field names (``emk_common.settings`` and its own)."""
    from emk_common.settings import ServiceSettings

    fields: dict[str, frozenset[str]] = {}
    for service in SERVICES:
        module = importlib.import_module(f"{service}.settings")
        (settings,) = (
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value is not ServiceSettings
        )
        fields[service] = frozenset(settings.model_fields)
    return fields


def readers(variable: str) -> set[str]:
    """The services that read environment variable ``variable``: ``NAME`` is setting
    ``name`` of every service that has it, ``SERVICE_NAME`` that service's alone."""
    name = variable.lower()
    found = set()
    for service, fields in settings_fields().items():
        prefix = f"{service}_"
        if name in fields or (name.startswith(prefix) and name[len(prefix) :] in fields):
            found.add(service)
    return found
