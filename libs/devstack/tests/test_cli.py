"""``emk-stack`` as a developer runs it: start, say where things are, stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import pytest

from emk_devstack.cli import READY_LINE
from emk_devstack.ports import SERVICES
from emk_devstack.processes import port_is_free
from emk_devstack.stack import Ports

pytestmark = pytest.mark.integration

STARTUP_DEADLINE = 60.0
STOP_DEADLINE = 30.0


def stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class Output:
    """The lines a child prints, readable with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def drain(self) -> None:
        """Everything up to the end of the output (the child has exited)."""
        while (line := self._queue.get(timeout=STOP_DEADLINE)) is not None:
            self.lines.append(line)

    def wait_for(self, wanted: str, deadline: float, *, prefix: bool = False) -> None:
        """Read up to the line ``wanted`` (a line starting with it if ``prefix``)."""
        end = time.monotonic() + deadline
        while True:
            remaining = end - time.monotonic()
            assert remaining > 0, f"no {wanted!r} within {deadline} s:\n" + "\n".join(self.lines)
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, "emk-stack ended early:\n" + "\n".join(self.lines)
            self.lines.append(line)
            if line == wanted or (prefix and line.startswith(wanted)):
                return


def emk_stack() -> list[str]:
    script = Path(sys.executable).parent / "emk-stack"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "emk_devstack.cli"]


def stack_env(var_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    return {
        **os.environ,
        "EMK_VAR_DIR": str(var_dir),
        **{f"EMK_PORT_{name.upper()}": str(port) for name, port in ports.items()},
    }


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def start_infra(var_dir: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*emk_stack(), "infra"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=stack_env(var_dir, ports),
        start_new_session=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_infra_starts_prints_its_environment_and_stops_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    ports = asdict(Ports.free())
    var_dir = tmp_path / "var"
    process = start_infra(var_dir, ports)
    try:
        output = Output(process)
        output.wait_for(READY_LINE, STARTUP_DEADLINE)
        children = descendants(process.pid)
        infra_ports = [ports[name] for name in ("kafka", "mongodb", "s3", "smtp", "clamd")]

        assert len(children) >= 5
        assert not any(port_is_free(port) for port in infra_ports)
        printed = "\n".join(output.lines)
        assert f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{ports['kafka']}" in printed
        assert f"export MONGODB_URI=mongodb://127.0.0.1:{ports['mongodb']}" in printed
        assert f"export CLAMD_PORT={ports['clamd']}" in printed
        assert f"127.0.0.1:{ports['clamd']}  (clamd, signatures from " in printed
        assert "export EMK_BOOTSTRAP_ADMIN_EMAIL=admin@emk.local" in printed
        assert str(var_dir / "mail") in printed
        assert (var_dir / "stack.env").read_text().startswith("export ")

        process.send_signal(signum)
        assert process.wait(STOP_DEADLINE) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert [pid for pid in children if alive(pid)] == []
    assert [port for port in infra_ports if not port_is_free(port)] == []


def test_infra_refuses_a_taken_port_and_says_which(tmp_path: Path) -> None:
    ports = asdict(Ports.free())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", ports["kafka"]))
        taken.listen()

        finished = subprocess.run(
            [*emk_stack(), "infra"],
            capture_output=True,
            text=True,
            env=stack_env(tmp_path / "var", ports),
            timeout=STARTUP_DEADLINE,
            check=False,
        )

    assert finished.returncode == 1
    assert f"port {ports['kafka']} (Kafka) is already in use" in finished.stderr
    assert "starting" not in finished.stdout


def test_infra_restarts_a_server_that_dies_and_ctrl_c_still_stops_all(tmp_path: Path) -> None:
    ports = asdict(Ports.free())
    var_dir = tmp_path / "var"
    process = start_infra(var_dir, ports)
    try:
        output = Output(process)
        output.wait_for(READY_LINE, STARTUP_DEADLINE)
        before = descendants(process.pid)
        [smtp] = [pid for pid in before if "emk_devstack.smtp" in cmdline(pid)]

        os.kill(smtp, signal.SIGKILL)

        output.wait_for("SMTP (aiosmtpd) is back: ready ", STARTUP_DEADLINE, prefix=True)
        after = descendants(process.pid)
        [again] = [pid for pid in after if "emk_devstack.smtp" in cmdline(pid)]
        assert again != smtp
        assert not port_is_free(ports["smtp"])
        assert process.poll() is None
        # Nobody else was restarted.
        assert before - {smtp} <= after
        process.send_signal(signal.SIGINT)
        assert process.wait(STOP_DEADLINE) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output.drain()
    printed = "\n".join(output.lines)
    assert f"SMTP (aiosmtpd) was killed by SIGKILL; last lines of {var_dir}/logs/smtp.log:" in (
        printed
    )
    assert "smtp listening on" in printed  # the tail of its log
    assert "restarting SMTP (aiosmtpd) in 0.5 s" in printed
    assert [pid for pid in before | after if alive(pid)] == []
    assert [port for port in ports.values() if not port_is_free(port)] == []


def test_run_brings_up_all_five_services_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    ports = asdict(Ports.free())
    process = subprocess.Popen(
        [*emk_stack(), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=stack_env(tmp_path / "var", ports),
        start_new_session=True,
    )
    try:
        output = Output(process)
        output.wait_for(READY_LINE, 2 * STARTUP_DEADLINE)
        children = descendants(process.pid)
        printed = "\n".join(output.lines)
        for service in SERVICES:
            url = f"http://127.0.0.1:{ports[service]}"
            assert f"{url}/docs" in printed
            with urllib.request.urlopen(f"{url}/readyz", timeout=10) as ready:  # noqa: S310
                assert ready.status == 200
        assert f"127.0.0.1:{ports['clamd']}  (clamd" in printed
        assert "admin@emk.local" in printed
        # The gateway first, and one account per staff role, made once and printed.
        rows = [line.split()[0] for line in output.lines if line.startswith("  ") and line.strip()]
        assert rows[:2] == ["gateway", "identity"]
        for role in ("operator", "medical-worker", "employer"):
            assert f"{role}@emk.local  password " in printed
        staff = json.loads((tmp_path / "var" / "secrets" / "staff.json").read_text())
        assert [a["role"] for a in staff] == ["operator", "medical_worker", "employer"]
        through = f"http://127.0.0.1:{ports['gateway']}/api/v1/identity/login"
        for account in staff:  # each signs in: the password is right (a code is then sent)
            body = json.dumps({"login": account["email"], "password": account["password"]})
            request = urllib.request.Request(  # noqa: S310
                through, body.encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                assert "challenge_id" in json.loads(answer.read())

        process.send_signal(signal.SIGINT)
        assert process.wait(STOP_DEADLINE) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert [pid for pid in children if alive(pid)] == []
    assert [name for name, port in ports.items() if not port_is_free(port)] == []
