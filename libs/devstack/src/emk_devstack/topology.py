"""Who publishes and who consumes each Kafka topic: the one table the cluster's Kafka topics
and ACLs are generated from.

``python -m emk_devstack.topology`` writes ``deploy/k8s/base/kafka/topics.yaml`` (a Strimzi
``KafkaTopic`` per topic) and ``users.yaml`` (a ``KafkaUser`` per service, with its ACLs);
``--check`` only compares and fails when the committed files differ. ``tests/deploy`` holds
the table against the code: the topics each service's built app subscribes to and publishes
(its AsyncAPI), and the topics of the events its code makes.

A service may write only its own topics, the ``SHARED`` ones (its audit journal's anchors and
its accesses to a person's data) and its own dead-letter topic ``emk.<service>.dlq``, and read
only the topics it consumes, in its own consumer group (its name: the default of
``KAFKA_CONSUMER_GROUP``) — or, for the ``BROADCAST`` topics, without a group.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The Strimzi ``Kafka`` resource these topics and users belong to (deploy/k8s/base/kafka).
KAFKA_CLUSTER = "emk-kafka"
# Where ``python -m emk_devstack.topology`` writes, relative to the repository's root.
DEFAULT_OUTPUT = Path("deploy/k8s/base/kafka")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Flows:
    """The topics one service publishes to (its outbox's) and the topics it consumes."""

    publishes: tuple[str, ...]
    consumes: tuple[str, ...] = ()


# Revoked sessions: every service reads them, each replica on its own, without a consumer group
# (every replica must refuse every revoked session: emk_common.revocation).
SESSIONS = "emk.identity.sessions"
# Topics read without a consumer group, so reading them needs no group ACL.
BROADCAST = frozenset({SESSIONS})
# The audit journals' anchors (emk_common.journal): every service writes them, identity alone
# reads them. The one topic with more than one publisher.
AUDIT = "emk.audit"
# Accesses to a person's data (emk_common.access_feed: ids and codes): every service writes
# them, identity alone reads them, for the person's "who saw my data".
ACCESS = "emk.access"
SHARED = frozenset({AUDIT, ACCESS})

# The table. Keep it true: the test in tests/deploy fails when the code disagrees.
TABLE: Mapping[str, Flows] = {
    "identity": Flows(
        publishes=(ACCESS, AUDIT, "emk.identity", SESSIONS, "emk.notifications.commands"),
        consumes=(ACCESS, AUDIT, SESSIONS),
    ),
    "applications": Flows(
        publishes=(ACCESS, AUDIT, "emk.applications"),
        consumes=("emk.documents", SESSIONS, "emk.records"),
    ),
    "documents": Flows(publishes=(ACCESS, AUDIT, "emk.documents"), consumes=(SESSIONS,)),
    "records": Flows(
        publishes=(ACCESS, AUDIT, "emk.records"),
        consumes=("emk.applications", "emk.identity", SESSIONS),
    ),
    "notifications": Flows(
        publishes=(ACCESS, AUDIT, "emk.notifications"),
        consumes=(
            "emk.applications",
            "emk.identity",
            SESSIONS,
            "emk.notifications.commands",
            "emk.records",
        ),
    ),
}


@dataclass(frozen=True)
class TopicSpec:
    partitions: int
    retention_ms: int
    # Kafka deletes whole segments only: a short retention needs short segments too.
    segment_ms: int | None = None


# Events: a consumer that was away (or a new consumer group, which starts from the earliest
# offset) catches up within a month.
EVENTS = TopicSpec(partitions=12, retention_ms=30 * DAY_MS)
# Dead letters wait two weeks for someone to look at them; there are few.
DEAD_LETTERS = TopicSpec(partitions=3, retention_ms=14 * DAY_MS)
# Topics kept shorter than events. The commands topic carries sealed one-time codes that
# expire after five minutes: an hour is plenty, and nothing older should be kept.
SHORT_LIVED: Mapping[str, TopicSpec] = {
    # A revocation matters while the session's access tokens live (15 minutes); every replica
    # reads the last token lifetime of it when it starts, so it must stay small.
    SESSIONS: TopicSpec(partitions=3, retention_ms=HOUR_MS, segment_ms=10 * 60_000),
    "emk.notifications.commands": TopicSpec(
        partitions=12, retention_ms=HOUR_MS, segment_ms=10 * 60_000
    ),
}
# Replication in the base (prod); the dev overlay's single broker patches both to 1.
REPLICAS = 3
MIN_INSYNC_REPLICAS = 2


def dead_letter_topic(service: str) -> str:
    """Where ``service``'s consumers put the records they can never handle."""
    return f"emk.{service}.dlq"


def consumer_group(service: str) -> str:
    """The service's consumer group: ``ServiceSettings.kafka_consumer_group``'s default."""
    return service


def topics(table: Mapping[str, Flows] = TABLE) -> dict[str, TopicSpec]:
    """Every topic of the cluster (the published ones and each service's DLQ), by name."""
    found: dict[str, TopicSpec] = {}
    for service, flows in table.items():
        for topic in flows.publishes:
            found[topic] = SHORT_LIVED.get(topic, EVENTS)
        found[dead_letter_topic(service)] = DEAD_LETTERS
    return dict(sorted(found.items()))


def problems(table: Mapping[str, Flows] = TABLE) -> list[str]:
    """What makes the table inconsistent: a topic nobody publishes, or two publishers (but
    for the ``SHARED`` topics, which every service publishes)."""
    found: list[str] = []
    owners: dict[str, list[str]] = {}
    for service, flows in table.items():
        for topic in flows.publishes:
            owners.setdefault(topic, []).append(service)
    for topic, services in owners.items():
        if topic in SHARED:
            if sorted(services) != sorted(table):
                found.append(f"{topic} is published by every service, not only {services}")
        elif len(services) > 1:
            found.append(f"{topic} has more than one publisher: {', '.join(services)}")
    for service, flows in table.items():
        for topic in flows.consumes:
            if topic not in owners:
                found.append(f"{service} consumes {topic}, which no service publishes")
    return found


# --- the manifests -------------------------------------------------------------------------


def _resource_name(topic: str) -> str:
    """A Kubernetes name for a topic: ``emk.notifications.commands`` -> ``emk-notifications-
    commands`` (dots are legal, but Strimzi's own names use dashes)."""
    return topic.replace(".", "-")


def kafka_topics(table: Mapping[str, Flows] = TABLE) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for name, spec in topics(table).items():
        config: dict[str, Any] = {
            "retention.ms": str(spec.retention_ms),
            "min.insync.replicas": str(MIN_INSYNC_REPLICAS),
            "cleanup.policy": "delete",
        }
        if spec.segment_ms is not None:
            config["segment.ms"] = str(spec.segment_ms)
        resources.append(
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaTopic",
                "metadata": {
                    "name": _resource_name(name),
                    "labels": {"strimzi.io/cluster": KAFKA_CLUSTER},
                },
                "spec": {
                    "topicName": name,
                    "partitions": spec.partitions,
                    "replicas": REPLICAS,
                    "config": config,
                },
            }
        )
    return resources


def _acl(kind: str, name: str, operations: Sequence[str]) -> dict[str, Any]:
    return {
        "resource": {"type": kind, "name": name, "patternType": "literal"},
        "operations": list(operations),
        "host": "*",
    }


def acls(service: str, flows: Flows) -> list[dict[str, Any]]:
    """Write (and describe) its own topics and DLQ; read (and describe) what it consumes,
    in its own consumer group (none for the ``BROADCAST`` topics). Nothing else: no create, no
    wildcard, no other group."""
    entries = [_acl("topic", topic, ["Describe", "Write"]) for topic in flows.publishes]
    entries.append(_acl("topic", dead_letter_topic(service), ["Describe", "Write"]))
    entries += [_acl("topic", topic, ["Describe", "Read"]) for topic in flows.consumes]
    if set(flows.consumes) - BROADCAST:
        entries.append(_acl("group", consumer_group(service), ["Describe", "Read"]))
    return entries


def kafka_users(table: Mapping[str, Flows] = TABLE) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaUser",
            "metadata": {
                "name": service,
                "labels": {"strimzi.io/cluster": KAFKA_CLUSTER},
            },
            "spec": {
                # The User Operator makes the password: Secret ``kafka-user-<service>``.
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": acls(service, flows)},
            },
        }
        for service, flows in table.items()
    ]


_HEADER = (
    "# Generated by `python -m emk_devstack.topology` from its table of who publishes and\n"
    "# consumes which topic. Do not edit: change the table and run it again.\n"
)


def render(resources: Sequence[Mapping[str, Any]]) -> str:
    return _HEADER + "".join("---\n" + _yaml(resource, 0) for resource in resources)


def manifests(table: Mapping[str, Flows] = TABLE) -> dict[str, str]:
    """The generated files' names and contents."""
    return {
        "topics.yaml": render(kafka_topics(table)),
        "users.yaml": render(kafka_users(table)),
    }


# A tiny YAML writer: the manifests hold only mappings, lists, strings and integers, and
# emk-devstack does not depend on a YAML library.
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _RESERVED:
            return value
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _yaml(node: Any, indent: int) -> str:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, Mapping | list) and value:
                lines.append(f"{pad}{_scalar(key)}:\n{_yaml(value, indent + 2)}")
            else:
                lines.append(f"{pad}{_scalar(key)}: {_inline(value)}\n")
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, Mapping) and item:
                body = _yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2 :]}")
            else:
                lines.append(f"{pad}- {_inline(item)}\n")
    else:
        lines.append(f"{pad}{_scalar(node)}\n")
    return "".join(lines)


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emk_devstack.topology",
        description="Write the Kafka topics and users (ACLs) of deploy/k8s from the table.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"the directory to write to (default: {DEFAULT_OUTPUT}, from the repository root)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if the files differ"
    )
    args = parser.parse_args(argv)
    wrong = problems()
    if wrong:
        print("the table is inconsistent:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    output: Path = args.output
    stale: list[str] = []
    for name, text in manifests().items():
        path = output / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(str(path))
        if not args.check:
            output.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m emk_devstack.topology")
        return 1
    for written in stale:
        print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
