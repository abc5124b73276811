"""What each service's code subscribes to and publishes, as its built app says: run as a
script (``python code_topics.py OUT.json``) so that building five apps leaves nothing behind in
the test process (logging, the OpenTelemetry provider).

Each app is built as ``main.py`` builds it, ``build(Settings(...))``, with keys made up here
and no server: building connects to nothing. Its broker's AsyncAPI document lists the topics
it receives from and sends to (the outbox's publishers); the consumer group comes from the
runtime.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from faststream.specification import AsyncAPI

from emk_common.settings import ServiceSettings, encode_keyring

SERVICES = ("identity", "applications", "documents", "records", "notifications")


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value is not ServiceSettings
            and value.service_name == service
        ):
            return value
    raise LookupError(f"{service}.settings has no ServiceSettings subclass for {service}")


def _keys(service: str) -> dict[str, str]:
    """Made-up keys in the shapes the settings expect: enough for ``build`` to succeed."""
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


def service_topics(service: str) -> dict[str, Any]:
    settings = _settings_class(service)(**_keys(service))  # type: ignore[arg-type]
    app = importlib.import_module(f"{service}.app").build(settings)
    runtime = app.state.runtime
    spec = AsyncAPI(runtime.broker, title=service).to_specification().to_jsonable()
    channels = spec.get("channels", {})
    flows: dict[str, set[str]] = {"receive": set(), "send": set()}
    for operation in spec.get("operations", {}).values():
        channel = channels[operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        flows[operation["action"]].add(channel["address"])
    return {
        "consumes": sorted(flows["receive"]),
        "publishes": sorted(flows["send"]),
        "group": runtime.consumer.group_id,
    }


def main() -> None:
    out = Path(sys.argv[1])
    out.write_text(json.dumps({s: service_topics(s) for s in SERVICES}, indent=2))


if __name__ == "__main__":
    main()
