"""What each service's code subscribes to and publishes, as its built app says: run as a
script (``python code_topics.py OUT.json``) so that building five apps leaves nothing behind in
the test process (logging, the OpenTelemetry provider).

Each app is built as ``main.py`` builds it, with made-up keys and no server
(``emk_devstack.contracts.build_app``): building connects to nothing. Its broker's AsyncAPI
document lists the topics it receives from and sends to (the outbox's publishers); the consumer
group and the dead-letter topic come from the runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from emk_common.catalog import dlq_topic
from emk_devstack.contracts import build_app

SERVICES = ("identity", "applications", "documents", "records", "notifications")


def service_topics(service: str) -> dict[str, Any]:
    app = build_app(service)
    runtime = app.state.runtime
    spec = AsyncAPI(runtime.broker, title=service).to_specification().to_jsonable()
    channels = spec.get("channels", {})
    flows: dict[str, set[str]] = {"receive": set(), "send": set()}
    for operation in spec.get("operations", {}).values():
        channel = channels[operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        flows[operation["action"]].add(channel["address"])
    # Every service's revocation reader (emk_common.revocation) reads without a subscriber.
    flows["receive"].add(app.state.revocations.topic)
    return {
        "consumes": sorted(flows["receive"]),
        "publishes": sorted(flows["send"]),
        "group": runtime.consumer.group_id,
        # Where its consumers dead-letter (emk_common.kafka.EventConsumer).
        "dead_letters": dlq_topic(runtime.settings.service_name),
    }


def main() -> None:
    out = Path(sys.argv[1])
    out.write_text(json.dumps({s: service_topics(s) for s in SERVICES}, indent=2))


if __name__ == "__main__":
    main()
