"""Ports: well-known by default, overridable, and checked before anything starts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from emk_devstack.processes import StackError
from emk_devstack.stack import PortInUseError, Ports, Stack


@pytest.fixture
def listening() -> Iterator[int]:
    """A port somebody else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_fixed_ports_are_the_documented_ones() -> None:
    assert Ports.fixed(environ={}) == Ports(
        kafka=9092,
        mongodb=27017,
        s3=9000,
        smtp=8025,
        clamd=3310,
        identity=8001,
        applications=8002,
        documents=8003,
        records=8004,
        notifications=8005,
        gateway=8000,
    )


def test_each_fixed_port_can_be_overridden() -> None:
    environ = {
        "EMK_PORT_KAFKA": "19092", "EMK_PORT_RECORDS": " 18004 ", "EMK_PORT_CLAMD": "3311",
        "EMK_PORT_GATEWAY": "18000",
    }  # fmt: skip
    ports = Ports.fixed(environ=environ)
    assert ports.gateway == 18000

    assert ports.kafka == 19092
    assert ports.clamd == 3311
    assert ports.records == 18004
    assert ports.mongodb == 27017


@pytest.mark.parametrize("value", ["kafka", "0", "70000", "-1"])
def test_a_port_that_is_not_a_port_is_refused(value: str) -> None:
    with pytest.raises(StackError, match="EMK_PORT_SMTP must be a port number"):
        Ports.fixed(environ={"EMK_PORT_SMTP": value})


def test_free_ports_are_distinct() -> None:
    ports = asdict(Ports.free())

    assert len(set(ports.values())) == len(fields(Ports))


def test_the_stack_refuses_a_port_in_use_and_starts_nothing(
    tmp_path: Path, listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Free ports everywhere else, so a stack a developer runs meanwhile does not matter.
    for name, port in asdict(Ports.free()).items():
        monkeypatch.setenv(f"EMK_PORT_{name.upper()}", str(port))
    monkeypatch.setenv("EMK_PORT_MONGODB", str(listening))
    messages: list[str] = []
    stack = Stack(tmp_path / "var", Ports.fixed(), log=messages.append)

    with pytest.raises(PortInUseError) as refused:
        stack.start_infra()

    assert f"port {listening} (MongoDB) is already in use" in str(refused.value)
    assert "EMK_PORT_MONGODB" in str(refused.value)
    assert stack.children == []
    assert messages == []
    assert not (tmp_path / "var" / "logs").exists()


def test_the_clamd_port_is_checked_too(tmp_path: Path, listening: int) -> None:
    ports = Ports(**{**asdict(Ports.free()), "clamd": listening})
    stack = Stack(tmp_path / "var", ports, log=lambda _: None)

    with pytest.raises(PortInUseError) as refused:
        stack.start_infra()

    assert f"port {listening} (ClamAV) is already in use" in str(refused.value)
    assert "EMK_PORT_CLAMD" in str(refused.value)
    assert stack.children == []


def test_a_service_port_in_use_stops_the_whole_start_before_the_infra(
    tmp_path: Path, listening: int
) -> None:
    ports = Ports(**{**asdict(Ports.free()), "documents": listening})
    messages: list[str] = []
    stack = Stack(tmp_path / "var", ports, log=messages.append)

    with pytest.raises(PortInUseError, match=rf"port {listening} \(documents service\)"):
        stack.start()

    assert stack.children == []
    assert messages == []
