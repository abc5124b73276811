"""A crashed child is restarted alone, after a wait that grows while it keeps crashing and
starts again once it stayed up; Ctrl-C still stops everything at once.

Real child processes (small Python scripts), real time: the backoffs are shrunk to tenths
of a second so that the sequences show within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emk_devstack.processes import Backoff, Child, Probe, Restarter, Supervisor

DEADLINE = 15.0

# Each run of the child does the next step of its plan (the last one repeats):
# exit (code 3 at once), up:<s> (serves, then exits with 4 after <s> s),
# hang (never ready), serve (ready and stays).
PLANNED_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    counter, plan = Path(sys.argv[1]), sys.argv[2].split(",")
    run = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(run))
    step = plan[min(run, len(plan)) - 1]
    print(f"run {run}: {step}", flush=True)
    if step == "exit":
        sys.exit(3)
    if step == "hang":
        time.sleep(60)
    print("serving", flush=True)
    if step.startswith("up:"):
        time.sleep(float(step[3:]))
        sys.exit(4)
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def until(condition: Callable[[], object], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.02)


class Children:
    """Starts the test's children by name, as the stack's ``_launch`` does, and remembers
    every run of each."""

    def __init__(self, supervisor: Supervisor, directory: Path) -> None:
        self.supervisor = supervisor
        self.directory = directory
        self.plans: dict[str, str] = {}
        self.runs: dict[str, list[Child]] = {}

    def add(self, name: str, plan: str) -> Child:
        self.plans[name] = plan
        child, _ = self.launch(name)
        return child

    def launch(self, name: str) -> tuple[Child, Probe]:
        counter = self.directory / f"{name}.runs"
        argv = [sys.executable, "-c", PLANNED_CHILD, str(counter), self.plans[name]]
        child = self.supervisor.start(name, argv, label=name.capitalize())
        self.runs.setdefault(name, []).append(child)
        return child, lambda: "serving" in child.log_tail()


class Running:
    """A restarter checking in a thread, as ``emk-stack`` does in its main one."""

    def __init__(self, restarter: Restarter, log: list[str]) -> None:
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=restarter.run, args=(self._stop, 0.02))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive()

    def said(self, pattern: str) -> list[str]:
        return [message for message in list(self.log) if re.search(pattern, message)]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "logs")
    yield supervisor
    supervisor.stop_all(timeout=1.0)


@pytest.fixture
def children(supervisor: Supervisor, tmp_path: Path) -> Children:
    return Children(supervisor, tmp_path)


@pytest.fixture
def run(supervisor: Supervisor, children: Children) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(backoff: Backoff, ready_timeout: float = DEADLINE) -> Running:
        log: list[str] = []
        restarter = Restarter(
            supervisor, children.launch, backoff=backoff, ready_timeout=ready_timeout,
            log=log.append,
        )  # fmt: skip
        started.append(Running(restarter, log))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def delays(messages: list[str]) -> list[float]:
    """The waits the log announced, in order."""
    found = (re.findall(r"restarting \w+ in ([\d.]+) s", text) for text in messages)
    return [float(wait) for waits in found for wait in waits]


def test_the_wait_doubles_from_half_a_second_up_to_thirty() -> None:
    backoff = Backoff()

    assert [backoff.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.delay(10_000) == 30
    with pytest.raises(ValueError, match="counts from 1"):
        backoff.delay(0)


def test_a_crashed_child_is_restarted_alone_after_a_growing_wait(
    children: Children, run: Callable[..., Running]
) -> None:
    steady = children.add("steady", "serve")
    flaky = children.add("flaky", "serve,exit,exit,exit,serve")
    until(lambda: "serving" in flaky.log_tail(), "flaky's first run serving")
    restarter = run(Backoff(initial=0.1, factor=2, cap=0.3, stable_after=30))

    os.kill(flaky.pid, signal.SIGKILL)

    until(lambda: restarter.said("Flaky is back"), "flaky back")
    runs = children.runs["flaky"]
    assert len(runs) == 5
    crashes = restarter.said("^Flaky (was killed|exited)")
    assert "Flaky was killed by SIGKILL" in crashes[0]
    assert "run 1: serve" in crashes[0]  # the tail of its log
    assert all("exited with code 3" in c for c in crashes[1:])
    assert delays(restarter.log) == [0.1, 0.2, 0.3, 0.3]
    assert "failure 4 in a row: it keeps crashing" in crashes[3]
    # Each run started no sooner than its wait allowed.
    for before, after, wait in zip(runs[:-1], runs[1:], [0.1, 0.2, 0.3, 0.3], strict=True):
        assert after.started_at - before.started_at >= wait
    assert runs[-1].returncode() is None
    # Nobody else was touched.
    assert children.runs["steady"] == [steady]
    assert alive(steady.pid)
    assert restarter.said("Steady") == []


def test_a_child_that_had_stayed_up_starts_the_count_again(
    children: Children, run: Callable[..., Running]
) -> None:
    # Two quick crashes, then up for longer than stable_after before crashing, then fine.
    children.add("flaky", "exit,exit,up:0.8,serve")
    restarter = run(Backoff(initial=0.1, factor=2, cap=5, stable_after=0.5))

    until(lambda: len(restarter.said("Flaky is back")) == 2, "flaky back twice")

    assert delays(restarter.log) == [0.1, 0.2, 0.1]
    assert "exited with code 4" in restarter.said("^Flaky exited")[-1]


def test_a_child_that_keeps_crashing_is_retried_and_the_log_says_so(
    children: Children, run: Callable[..., Running]
) -> None:
    steady = children.add("steady", "serve")
    children.add("broken", "exit")
    restarter = run(Backoff(initial=0.05, factor=2, cap=0.1, stable_after=30))

    until(lambda: len(restarter.said("^Broken exited")) >= 6, "six crashes")

    assert delays(restarter.log)[:6] == [0.05, 0.1, 0.1, 0.1, 0.1, 0.1]
    messages = restarter.said("^Broken exited")
    for count, message in enumerate(messages[1:6], start=2):
        assert f"failure {count} in a row: it keeps crashing" in message
    assert alive(steady.pid)


def test_a_restarted_child_not_ready_in_time_is_stopped_and_tried_again(
    children: Children, run: Callable[..., Running]
) -> None:
    children.add("slow", "exit,hang,serve")
    restarter = run(Backoff(initial=0.05, stable_after=30), ready_timeout=2.0)

    until(lambda: restarter.said("Slow is back"), "slow back")

    [not_ready] = restarter.said("not ready")
    assert "Slow was not ready within 2 s of its restart" in not_ready
    assert "run 2: hang" in not_ready
    hung = children.runs["slow"][1]
    assert not alive(hung.pid)
    assert delays(restarter.log) == [0.05, 0.1]


def test_a_child_stopped_on_purpose_is_not_restarted(
    supervisor: Supervisor, children: Children, run: Callable[..., Running]
) -> None:
    children.add("kept", "serve")
    restarter = run(Backoff(initial=0.05))
    stopped = children.add("stopped", "serve")
    until(lambda: "serving" in stopped.log_tail(), "serving")

    supervisor.stop("stopped")
    # The child that crashes next is seen, so the restarter has looked since the stop.
    os.kill(children.runs["kept"][0].pid, signal.SIGKILL)
    until(lambda: restarter.said("Kept is back"), "kept back")

    assert len(children.runs["stopped"]) == 1
    assert restarter.said("Stopped") == []


def test_ctrl_c_stops_everything_even_during_a_long_wait(tmp_path: Path) -> None:
    """As in ``emk-stack``: the restarter in the main thread, the children stopped after it."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from emk_devstack.processes import Backoff, Restarter, Supervisor

        supervisor = Supervisor(Path({str(tmp_path / "logs")!r}))
        steady = supervisor.start("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
        supervisor.start("broken", [sys.executable, "-c", "raise SystemExit(3)"])
        print("steady", steady.pid, flush=True)

        def relaunch(name):
            raise AssertionError(name + " restarted before its wait was over")

        try:
            Restarter(supervisor, relaunch, backoff=Backoff(initial=60, cap=60)).run(poll=0.02)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        finally:
            supervisor.stop_all()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip())

    threading.Thread(target=pump, daemon=True).start()
    printed: list[str] = []

    def printed_line(wanted: str) -> None:
        end = time.monotonic() + DEADLINE
        while wanted not in printed:
            assert time.monotonic() < end, f"no {wanted!r} within {DEADLINE} s: {printed}"
            with contextlib.suppress(queue.Empty):
                printed.append(lines.get(timeout=0.1))

    try:
        printed_line("restarting broken in 60 s")
        steady = int(next(line for line in printed if line.startswith("steady")).split()[1])
        assert alive(steady)

        process.send_signal(signal.SIGINT)

        # Not a minute later, when the wait would end: at once.
        assert process.wait(DEADLINE) == 0
        printed_line("interrupted")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not alive(steady)
