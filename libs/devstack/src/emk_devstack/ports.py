"""The ports of the local stack: well-known by default, or free ones for tests."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from emk_devstack.processes import StackError, port_is_free

HOST = "127.0.0.1"
# The five services and their local ports (API.md); each service's settings default to its own.
SERVICES = ("identity", "applications", "documents", "records", "notifications")
DEFAULT_PORTS = {
    "identity": 8001,
    "applications": 8002,
    "documents": 8003,
    "records": 8004,
    "notifications": 8005,
}
# In start order; Kafka may keep its log in S3.
INFRA = ("s3", "kafka", "mongodb", "smtp", "clamd")

# What a port is for, in messages.
PURPOSES = {
    "kafka": "Kafka",
    "mongodb": "MongoDB",
    "s3": "S3",
    "smtp": "SMTP",
    "clamd": "ClamAV",
    **{service: f"{service} service" for service in SERVICES},
    "gateway": "API gateway",
}
INFRA_DEFAULT_PORTS = {"kafka": 9092, "mongodb": 27017, "s3": 9000, "smtp": 8025, "clamd": 3310}
GATEWAY_DEFAULT_PORT = 8000


class PortInUseError(StackError):
    pass


@dataclass(frozen=True)
class Ports:
    kafka: int
    mongodb: int
    s3: int
    smtp: int
    clamd: int
    identity: int
    applications: int
    documents: int
    records: int
    notifications: int
    gateway: int

    @classmethod
    def fixed(cls, environ: Mapping[str, str] | None = None) -> Ports:
        """The well-known ports, each overridable by ``EMK_PORT_<NAME>``."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        defaults = {**INFRA_DEFAULT_PORTS, **DEFAULT_PORTS, "gateway": GATEWAY_DEFAULT_PORT}
        for name, default in defaults.items():
            variable = f"EMK_PORT_{name.upper()}"
            raw = environ.get(variable, "").strip()
            values[name] = _parse_port(variable, raw) if raw else default
        return cls(**values)

    @classmethod
    def free(cls) -> Ports:
        """Ports free on the loopback now (held together while picked, so all distinct)."""
        sockets: list[socket.socket] = []
        try:
            for _ in fields(cls):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((HOST, 0))
            return cls(*(int(sock.getsockname()[1]) for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    def of(self, name: str) -> int:
        if name not in PURPOSES:
            raise ValueError(f"unknown server {name!r}; known: {', '.join(PURPOSES)}")
        return int(getattr(self, name))

    def check_free(self, names: Iterable[str]) -> None:
        """Fail, naming each one, if any of these servers' ports is taken."""
        busy = [
            f"port {self.of(name)} ({PURPOSES[name]}) is already in use"
            f" (another stack running? EMK_PORT_{name.upper()} picks another port)"
            for name in names
            if not port_is_free(self.of(name), HOST)
        ]
        if busy:
            raise PortInUseError("\n".join(busy))


def _parse_port(variable: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise StackError(f"{variable} must be a port number (1-65535), not {raw!r}")
    return port
