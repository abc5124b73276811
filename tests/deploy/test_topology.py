"""The table of who publishes and consumes which topic (``emk_devstack.topology``), held
against the code, and the Kafka topics and users (ACLs) generated from it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emk_common.catalog import CATALOG, SessionRevoked
from emk_devstack import topology

from .support import K8S, ROOT, yaml_documents

SERVICES = tuple(topology.TABLE)


@pytest.fixture(scope="module")
def built_apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What each service's built app subscribes to and publishes (code_topics.py, run in its
    own process: building the apps sets process-wide logging and telemetry)."""
    out = tmp_path_factory.mktemp("topics") / "topics.json"
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("code_topics.py")), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
        # Only the process basics: a session's stack exports its services' settings (keys,
        # endpoints), which would mix with the keys code_topics.py makes up.
        env={k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
    )
    assert done.returncode == 0, f"building the apps failed:\n{done.stderr[-4000:]}"
    apps: dict[str, dict[str, Any]] = json.loads(out.read_text())
    return apps


def test_the_table_is_consistent() -> None:
    assert topology.problems() == []
    assert set(SERVICES) == {"identity", "applications", "documents", "records", "notifications"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_lists_what_the_app_consumes(
    service: str, built_apps: dict[str, dict[str, Any]]
) -> None:
    app = built_apps[service]
    assert sorted(topology.TABLE[service].consumes) == app["consumes"], (
        f"{service} subscribes to {app['consumes']}: update emk_devstack.topology.TABLE "
        "and run `python -m emk_devstack.topology`"
    )
    assert app["group"] == topology.consumer_group(service)


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_lists_what_the_app_publishes(
    service: str, built_apps: dict[str, dict[str, Any]]
) -> None:
    app = built_apps[service]
    assert sorted(topology.TABLE[service].publishes) == app["publishes"], (
        f"{service}'s outbox publishes to {app['publishes']}: update emk_devstack.topology.TABLE "
        "and run `python -m emk_devstack.topology`"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_names_the_dead_letter_topic_the_app_writes(
    service: str, built_apps: dict[str, dict[str, Any]]
) -> None:
    assert built_apps[service]["dead_letters"] == topology.dead_letter_topic(service)
    assert topology.dead_letter_topic(service) == f"emk.{service}.dlq"


def _event_class(node: ast.expr | None, imported: dict[str, str], names: set[str]) -> str | None:
    """The event class ``node`` names: ``catalog.X``, or ``X`` imported from the catalog."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "catalog"
        and node.attr in names
    ):
        return node.attr
    if isinstance(node, ast.Name):
        return imported.get(node.id)
    return None


def events_made_by(service: str) -> dict[str, set[str]]:
    """The catalog's events the service's code makes (outside ``handlers/``, which only
    receives them), by topic: a call ``catalog.X(...)`` or ``X(...)`` of an event class, or
    the class as a mapping's value (records maps record kinds to their event classes)."""
    by_name = {cls.__name__: cls for cls in CATALOG.values()}
    root = ROOT / "services" / service / "src" / service
    made: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] == "handlers":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "emk_common.catalog"
            for alias in node.names
            if alias.name in by_name
        }
        for node in ast.walk(tree):
            candidates: list[ast.expr | None] = []
            if isinstance(node, ast.Call):
                candidates = [node.func]
            elif isinstance(node, ast.Dict):
                candidates = list(node.values)
            for candidate in candidates:
                name = _event_class(candidate, imported, set(by_name))
                if name is not None:
                    made.setdefault(by_name[name].topic, set()).add(f"{name} ({relative})")
    return made


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_makes_events_only_of_its_own_topics(service: str) -> None:
    made = events_made_by(service)
    assert made, f"found no event that {service} makes"
    # The shared topics' events (the journal's anchors) are made by emk_common for every service.
    own = set(topology.TABLE[service].publishes) - topology.SHARED
    assert sorted(made) == sorted(own), f"{service} makes events of these topics: " + "; ".join(
        f"{topic}: {', '.join(sorted(events))}" for topic, events in made.items()
    )


def test_every_catalog_topic_has_one_publisher_in_the_table() -> None:
    published = {t for flows in topology.TABLE.values() for t in flows.publishes}
    assert {cls.topic for cls in CATALOG.values()} == published


def test_the_committed_manifests_are_generated_from_the_table() -> None:
    for name, text in topology.manifests().items():
        path = K8S / "base" / "kafka" / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is out of date: run `python -m emk_devstack.topology`"
        )


def test_the_generator_checks_without_writing(tmp_path: Path) -> None:
    assert topology.main(["--check", "--output", str(K8S / "base" / "kafka")]) == 0
    assert topology.main(["--check", "--output", str(tmp_path)]) == 1
    assert list(tmp_path.iterdir()) == []
    assert topology.main(["--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topics.yaml", "users.yaml"]


def _acl_map(user: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """Operations by resource (identity both writes and reads its revoked sessions' topic)."""
    found: dict[tuple[str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        resource = (acl["resource"]["type"], acl["resource"]["name"])
        found.setdefault(resource, set()).update(acl["operations"])
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_writes_its_own_topics_and_reads_what_it_consumes(service: str) -> None:
    users = {u["metadata"]["name"]: u for u in yaml_documents(K8S / "base/kafka/users.yaml")}
    acls = _acl_map(users[service])
    flows = topology.TABLE[service]
    writes = {name for (kind, name), ops in acls.items() if kind == "topic" and "Write" in ops}
    reads = {name for (kind, name), ops in acls.items() if kind == "topic" and "Read" in ops}
    groups = {name for (kind, name), ops in acls.items() if kind == "group"}
    assert writes == {*flows.publishes, f"emk.{service}.dlq"}
    assert reads == set(flows.consumes)
    # The broadcast topics (revoked sessions) are read without a group.
    assert groups == ({service} if set(flows.consumes) - topology.BROADCAST else set())
    for (kind, name), operations in acls.items():
        assert operations <= {"Describe", "Read", "Write"}, (kind, name, operations)
        assert kind in {"topic", "group"}
    for acl in users[service]["spec"]["authorization"]["acls"]:
        assert acl["resource"]["patternType"] == "literal"


def test_every_topic_and_dead_letter_topic_is_a_kafka_topic() -> None:
    topics = {t["spec"]["topicName"]: t for t in yaml_documents(K8S / "base/kafka/topics.yaml")}
    wanted = {t for flows in topology.TABLE.values() for t in (*flows.publishes, *flows.consumes)}
    wanted |= {f"emk.{service}.dlq" for service in SERVICES}
    assert set(topics) == wanted
    commands = topics["emk.notifications.commands"]["spec"]["config"]
    events = topics["emk.identity"]["spec"]["config"]
    # Sealed one-time codes expire in five minutes: their topic keeps them an hour at most,
    # in segments short enough for Kafka to delete them.
    assert int(commands["retention.ms"]) <= 3_600_000
    assert int(commands["segment.ms"]) < int(commands["retention.ms"])
    assert int(commands["retention.ms"]) < int(events["retention.ms"])
    # Revoked sessions matter for one access-token lifetime: an hour is plenty.
    sessions = topics[topology.SESSIONS]["spec"]["config"]
    assert 900_000 < int(sessions["retention.ms"]) <= 3_600_000
    assert int(sessions["segment.ms"]) < int(sessions["retention.ms"])


def test_every_service_reads_revoked_sessions_without_a_group() -> None:
    assert {SessionRevoked.topic} == topology.BROADCAST
    for service, flows in topology.TABLE.items():
        assert topology.SESSIONS in flows.consumes, service


def test_every_service_writes_audit_anchors_and_only_identity_reads_them() -> None:
    for service, flows in topology.TABLE.items():
        assert topology.AUDIT in flows.publishes, service
    assert [s for s, f in topology.TABLE.items() if topology.AUDIT in f.consumes] == ["identity"]
