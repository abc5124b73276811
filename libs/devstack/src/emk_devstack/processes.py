"""A small supervisor of child processes: start, wait until ready, restart one that crashes
(``Restarter``, with a backoff), stop in reverse order.

Each child runs in its own session (so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order) and, on Linux, is asked by the kernel
to die with the supervisor (``PR_SET_PDEATHSIG``), so even a ``kill -9`` of the supervisor
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_INTERVAL = 0.05
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 30

Probe = Callable[[], bool]
"""A readiness check: true once the child serves. It must return quickly (≤ ~1 s)."""


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why, for a developer."""


class StartupError(StackError):
    """A child exited before it was ready, or did not become ready in time."""


@dataclass
class Child:
    name: str
    label: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    started_at: float
    # Where this run's output starts in the log file, which keeps earlier runs.
    log_offset: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def returncode(self) -> int | None:
        """The exit code once the child has exited, else None (reaps it if it has)."""
        return self.process.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        tail = text.rstrip("\n").splitlines()[-lines:]
        return "\n".join(tail) if tail else "(the log is empty)"

    def describe_exit(self) -> str:
        code = self.process.returncode
        how = f"exited with code {code}"
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        return f"{self.label} {how}; last lines of {self.log_path}:\n" + _indent(self.log_tail())


def tcp_accepts(host: str, port: int, timeout: float = 0.5) -> Probe:
    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    return probe


# Local URLs only: never go through a proxy a developer may have configured.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_ok(url: str, timeout: float = 1.0) -> Probe:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")

    def probe() -> bool:
        try:
            with _direct.open(url, timeout=timeout) as response:
                return int(response.status) == 200
        except (OSError, http.client.HTTPException):
            return False

    return probe


def service_consuming(url: str, timeout: float = 1.0) -> Probe:
    """A service's ``/readyz`` answers 200 and reports Kafka ``connected``: its consumers
    have joined their group, so an event published now is heard (a service serves HTTP
    before, while its group join is under way)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")

    def probe() -> bool:
        try:
            with _direct.open(url, timeout=timeout) as response:
                if int(response.status) != 200:
                    return False
                body = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError):
            return False
        info = body.get("info") if isinstance(body, dict) else None
        return isinstance(info, dict) and info.get("kafka") == "connected"

    return probe


def http_answers(url: str, status: int, timeout: float = 1.0) -> Probe:
    """``url`` answers ``status`` (a gateway is ready once it routes: a service's 401, not
    its own 404 while its routes are still loading)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")

    def probe() -> bool:
        try:
            with _direct.open(url, timeout=timeout) as response:
                return int(response.status) == status
        except urllib.error.HTTPError as error:
            return error.code == status
        except (OSError, http.client.HTTPException):
            return False

    return probe


def all_of(*probes: Probe) -> Probe:
    return lambda: all(probe() for probe in probes)


class Supervisor:
    """Children by name, in start order; stops them in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: dict[str, Child] = {}

    @property
    def children(self) -> list[Child]:
        return list(self._children.values())

    def get(self, name: str) -> Child | None:
        return self._children.get(name)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        label: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        running = self._children.get(name)
        if running is not None and running.returncode() is None:
            raise StackError(f"{running.label} is already running (pid {running.pid})")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"---- {stamp} {' '.join(argv)}\n".encode())
            log.flush()
            offset = log.tell()
            process = _from_spawner_thread(
                subprocess.Popen,
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                # Only a prctl call between fork and exec: safe with threads around.
                preexec_fn=_die_with(os.getpid()),
            )
        child = Child(
            name=name,
            label=label or name,
            argv=list(argv),
            log_path=log_path,
            process=process,
            started_at=time.monotonic(),
            log_offset=offset,
        )
        # A child restarted after a crash keeps its place in the stopping order (its entry is
        # still here); one started again after ``stop`` comes last, so it is stopped first.
        self._children[name] = child
        return child

    def wait_ready(self, child: Child, probe: Probe, *, timeout: float) -> float:
        """Poll ``probe`` until it passes; returns the seconds since the child started."""
        deadline = time.monotonic() + timeout
        while True:
            if child.returncode() is not None:
                raise StartupError(child.describe_exit())
            # Checked again after the probe: a port answering while our child dies
            # belongs to somebody else.
            if probe() and child.returncode() is None:
                return time.monotonic() - child.started_at
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"{child.label} was not ready within {timeout:g} s; "
                    f"last lines of {child.log_path}:\n{_indent(child.log_tail())}"
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        child = self._children.pop(name, None)
        if child is not None:
            terminate(child.process, timeout)

    def stop_all(
        self, timeout: float = STOP_TIMEOUT, announce: Callable[[Child], None] | None = None
    ) -> None:
        """Stop every child, last started first; one that resists does not spare the rest."""
        errors: list[Exception] = []
        for child in reversed(self.children):
            if announce is not None:
                announce(child)
            try:
                self.stop(child.name, timeout)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a child that crashed.

    ``initial`` after its first crash, multiplied by ``factor`` with each crash in a row, up
    to ``cap``: a child that keeps crashing is retried every ``cap`` seconds, for ever, without
    flooding the log or the machine. A child that had stayed up ``stable_after`` seconds
    before it crashed starts the count again: it crashed once, it is not crashing in a loop.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 60.0

    def delay(self, crashes: int) -> float:
        """The wait after the ``crashes``-th crash in a row (1 for the first)."""
        if crashes < 1:
            raise ValueError(f"crashes counts from 1, not {crashes}")
        # The exponent is bounded: past the cap it no longer matters, and floats overflow.
        return float(min(self.cap, self.initial * self.factor ** min(crashes - 1, 64)))


Relaunch = Callable[[str], tuple[Child, Probe]]
"""Starts the named child again (same command, same port) and returns it with its probe."""


@dataclass
class _Watch:
    """What the restarter knows of one child between two of its checks."""

    crashes: int = 0  # in a row
    restart_at: float | None = None  # waiting out the backoff
    # Restarted, not ready yet: the new child, its probe, the deadline of its readiness.
    starting: tuple[Child, Probe, float] | None = None


class Restarter:
    """Keeps a supervisor's children running: one that dies although nobody stopped it is
    restarted, whatever the others do.

    A crash is logged with the child's exit code or signal and the tail of its log; the
    child is started again by ``relaunch`` (same name, so the same port the others were
    configured with) after the ``backoff``, then polled until its probe passes, and its
    return is logged. Nothing else is touched: the others keep running (the services
    reconnect to a restarted server by themselves). One check never waits on one child, so
    a second crash is seen while the first child is still coming back.

    A child taken away on purpose (``Supervisor.stop``) is not restarted. Stopping the
    children is the caller's business (``Supervisor.stop_all``, after ``run`` returns or is
    interrupted by Ctrl-C).
    """

    def __init__(
        self,
        supervisor: Supervisor,
        relaunch: Relaunch,
        *,
        backoff: Backoff | None = None,
        ready_timeout: float = 60.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._relaunch = relaunch
        self.backoff = backoff if backoff is not None else Backoff()
        self.ready_timeout = ready_timeout
        self._log = log if log is not None else _print
        self._watches: dict[str, _Watch] = {}

    def run(self, stop: threading.Event | None = None, poll: float = 0.25) -> None:
        """Check every ``poll`` seconds until ``stop`` is set (for ever if none is given:
        then only an exception, such as Ctrl-C's, ends it)."""
        stop = stop if stop is not None else threading.Event()
        while not stop.is_set():
            self.check()
            stop.wait(poll)

    def check(self) -> None:
        """One look at every child: note crashes, restart those whose wait is over, see
        whether those restarted are ready."""
        current = {child.name: child for child in self._supervisor.children}
        for name in [name for name in self._watches if name not in current]:
            del self._watches[name]  # stopped on purpose
        for name, child in current.items():
            watch = self._watches.setdefault(name, _Watch())
            if watch.starting is not None and watch.starting[0] is not child:
                watch.starting = None  # stopped and started again meanwhile by someone else
            elif watch.restart_at is not None and child.returncode() is None:
                watch.restart_at = None  # likewise
            if watch.starting is not None:
                self._check_starting(watch)
            elif watch.restart_at is not None:
                if time.monotonic() >= watch.restart_at:
                    self._restart(name, child, watch)
            elif child.returncode() is not None:
                self._crashed(child, watch)

    def _crashed(self, child: Child, watch: _Watch) -> None:
        if self._supervisor.get(child.name) is not child:
            # Stopped meanwhile (``Supervisor.stop`` forgets a child before it stops it).
            self._watches.pop(child.name, None)
            return
        # Whatever it left in its process group must not keep its port.
        terminate(child.process)
        if time.monotonic() - child.started_at >= self.backoff.stable_after:
            watch.crashes = 0
        self._log(f"{child.describe_exit()}\n{self._retrying(child, watch)}")

    def _restart(self, name: str, child: Child, watch: _Watch) -> None:
        watch.restart_at = None
        try:
            restarted, probe = self._relaunch(name)
        except Exception as exc:  # its port still taken, a server it needs away…
            retrying = self._retrying(child, watch)
            self._log(f"{child.label} could not be restarted: {exc}\n{retrying}")
            return
        watch.starting = (restarted, probe, time.monotonic() + self.ready_timeout)

    def _check_starting(self, watch: _Watch) -> None:
        assert watch.starting is not None
        child, probe, deadline = watch.starting
        if child.returncode() is not None:
            watch.starting = None
            self._crashed(child, watch)
        # Checked again after the probe: a port answering while our child dies is not its.
        elif probe() and child.returncode() is None:
            watch.starting = None
            seconds = time.monotonic() - child.started_at
            self._log(f"{child.label} is back: ready {seconds:.1f} s after its restart")
        elif time.monotonic() >= deadline:
            watch.starting = None
            terminate(child.process)
            self._log(
                f"{child.label} was not ready within {self.ready_timeout:g} s of its restart; "
                f"last lines of {child.log_path}:\n{_indent(child.log_tail())}\n"
                + self._retrying(child, watch)
            )

    def _retrying(self, child: Child, watch: _Watch) -> str:
        """Count one more failure in a row, schedule the next try, and say when it is."""
        watch.crashes += 1
        delay = self.backoff.delay(watch.crashes)
        watch.restart_at = time.monotonic() + delay
        message = f"restarting {child.label} in {delay:g} s"
        if watch.crashes == 1:
            return message
        return (
            f"{message} (failure {watch.crashes} in a row: it keeps crashing; the wait grows "
            f"up to {self.backoff.cap:g} s, the others keep running)"
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``timeout``; reaps the child.

    The child leads its own session, so its process group id is its pid.
    """
    group = process.pid
    if process.poll() is None:
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait()
    # Whatever the child left in its group got the SIGTERM too; it does not outlive it.
    if _group_exists(group):
        _signal_group(group, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while _group_exists(group) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on ``host:port`` now.

    SO_REUSEADDR, as servers set it, so that connections of a previous run still in
    TIME_WAIT do not count as "in use"; a listening socket still does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_exists(group: int) -> bool:
    """True while a live process is in the group. Zombies do not count: an orphan's
    zombie waits for init to reap it, which can take a while and harms nobody."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may itself hold ") ".
        state, _ppid, pgrp = stat[stat.rfind(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            return True
    return False


def _from_spawner_thread(
    popen: Callable[..., subprocess.Popen[bytes]], argv: list[str], **options: Any
) -> subprocess.Popen[bytes]:
    """``popen(argv, **options)`` from one thread that lives as long as the process.

    The kernel sends PR_SET_PDEATHSIG when the *thread* that forked the child ends, so a
    child started from a short-lived thread (``asyncio.to_thread``, a pool) would die
    with it. The spawner thread ends only when the interpreter exits.
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # none yet, or we were forked
            _spawner = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="emk-spawner"))
        executor = _spawner[1]
    started = executor.submit(popen, argv, **options)
    try:
        return started.result()
    except BaseException:
        # Interrupted (Ctrl-C) while the child was being started: it must not outlive us.
        if not started.cancel() and started.exception() is None:
            terminate(started.result())
        raise


_spawner: tuple[int, ThreadPoolExecutor] | None = None
_spawner_lock = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the supervisor dies."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before fork: the child only makes the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # The supervisor may have died between fork and prctl: then nobody will signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _print(message: str) -> None:
    print(message, flush=True)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
