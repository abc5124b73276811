"""The supervisor: readiness with a deadline, clear failures, stopping that leaves nothing."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emk_devstack.processes import Child, StartupError, Supervisor, service_consuming
from emk_devstack.stack import free_ports

DEADLINE = 10.0


def alive(pid: int) -> bool:
    """A zombie is dead: it only waits for its parent to read its exit code."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.02)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "logs")
    yield supervisor
    supervisor.stop_all(timeout=1.0)


def test_a_child_exiting_before_ready_fails_with_its_log_tail(supervisor: Supervisor) -> None:
    child = supervisor.start(
        "broken", python("import sys; print('no config here'); sys.exit(3)"), label="Broken"
    )

    with pytest.raises(StartupError) as failure:
        supervisor.wait_ready(child, lambda: False, timeout=DEADLINE)

    message = str(failure.value)
    assert "Broken exited with code 3" in message
    assert "no config here" in message
    assert str(child.log_path) in message


def test_a_child_not_ready_in_time_fails_with_its_log_tail(supervisor: Supervisor) -> None:
    child = supervisor.start(
        "slow", python("import time; print('still booting', flush=True); time.sleep(60)")
    )
    supervisor.wait_ready(child, lambda: "still booting" in child.log_tail(), timeout=DEADLINE)

    with pytest.raises(StartupError) as failure:
        supervisor.wait_ready(child, lambda: False, timeout=0.2)

    assert "slow was not ready within 0.2 s" in str(failure.value)
    assert "still booting" in str(failure.value)


def test_the_log_tail_shows_only_the_latest_run(supervisor: Supervisor) -> None:
    first = supervisor.start("twice", python("print('first run')"))
    first.process.wait()
    second = supervisor.start("twice", python("print('second run')"))
    second.process.wait()

    assert "second run" in second.log_tail()
    assert "first run" not in second.log_tail()
    assert "first run" in second.log_path.read_text()


def test_stop_kills_a_child_that_ignores_sigterm(supervisor: Supervisor) -> None:
    child = supervisor.start(
        "stubborn",
        python("""
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print('ignoring SIGTERM', flush=True)
            time.sleep(60)
        """),
    )
    supervisor.wait_ready(child, lambda: "ignoring" in child.log_tail(), timeout=DEADLINE)

    supervisor.stop("stubborn", timeout=0.3)

    assert child.process.returncode == -signal.SIGKILL
    assert not alive(child.pid)
    assert supervisor.children == []


def test_stop_takes_the_childs_whole_process_group(supervisor: Supervisor) -> None:
    child = supervisor.start(
        "parent",
        python(f"""
            import subprocess, time
            grandchild = subprocess.Popen([{sys.executable!r}, "-c", "import time; time.sleep(60)"])
            print("grandchild", grandchild.pid, flush=True)
            time.sleep(60)
        """),
    )
    supervisor.wait_ready(child, lambda: "grandchild" in child.log_tail(), timeout=DEADLINE)
    grandchild = int(child.log_tail().split()[-1])
    assert alive(grandchild)

    supervisor.stop("parent")

    assert not alive(child.pid)
    assert not alive(grandchild)


def test_stop_all_goes_in_reverse_start_order(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    stopped: list[str] = []
    for name in ("first", "second", "third"):
        supervisor.start(name, python("import time; time.sleep(60)"))
    stop = supervisor.stop

    def recording_stop(name: str, timeout: float = 5.0) -> None:
        stopped.append(name)
        stop(name, timeout)

    supervisor.stop = recording_stop  # type: ignore[method-assign]
    supervisor.stop_all()

    assert stopped == ["third", "second", "first"]


def test_children_die_with_a_supervisor_killed_by_sigkill(tmp_path: Path) -> None:
    script = f"""
        import sys, time
        from pathlib import Path
        from emk_devstack.processes import Supervisor
        child = Supervisor(Path({str(tmp_path)!r})).start(
            "orphan", [sys.executable, "-c", "import time; time.sleep(60)"]
        )
        print(child.pid, flush=True)
        time.sleep(60)
    """
    outer = subprocess.Popen(python(script), stdout=subprocess.PIPE, text=True)
    orphan = 0
    try:
        assert outer.stdout is not None
        orphan = int(outer.stdout.readline())
        assert alive(orphan)
        os.kill(outer.pid, signal.SIGKILL)
        outer.wait()

        eventually(lambda: not alive(orphan), "the orphan got PR_SET_PDEATHSIG")
    finally:
        outer.kill()
        outer.wait()
        if orphan and alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_child_started_from_a_short_lived_thread_outlives_the_thread(
    supervisor: Supervisor,
) -> None:
    started: list[Child] = []
    thread = threading.Thread(
        target=lambda: started.append(
            supervisor.start("threaded", python("import time; time.sleep(60)"))
        )
    )
    thread.start()
    thread.join()
    [child] = started

    # PR_SET_PDEATHSIG would have fired as the thread ended; give it time to land.
    time.sleep(0.5)

    assert child.returncode() is None


@pytest.mark.parametrize(
    ("status", "body", "ready"),
    [
        (200, b'{"status": "ready", "info": {"kafka": "connected"}}', True),
        (200, b'{"status": "ready", "info": {"kafka": "connecting"}}', False),
        (200, b'{"status": "ready", "info": {}}', False),
        (200, b"not json", False),
        (200, b"[]", False),
        (503, b'{"status": "unavailable", "info": {"kafka": "connected"}}', False),
    ],
)
def test_a_service_is_ready_once_it_consumes(status: int, body: bytes, ready: bool) -> None:
    class Readyz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Readyz)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        probe = service_consuming(f"http://127.0.0.1:{server.server_port}/readyz")
        assert probe() is ready
    finally:
        server.shutdown()
        server.server_close()


def test_a_service_that_does_not_answer_is_not_consuming() -> None:
    (port,) = free_ports(1, avoid=set())
    assert service_consuming(f"http://127.0.0.1:{port}/readyz", timeout=0.2)() is False
