"""A service killed outright (``kill -9``) is not the end of the local platform: the stack's
supervision — the same ``Stack.supervise`` that ``make run`` runs — logs the crash, restarts
that service alone on its port, and it serves again while everything else kept running."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from emk_devstack.stack import Ports, Stack
from emk_testing import eventually

VICTIM = "notifications"
LABEL = "notifications service"
BACK_WITHIN = 30.0


@pytest.mark.integration  # starts its own stack
async def test_a_killed_service_is_restarted_alone_and_serves_again(tmp_path: Path) -> None:
    log: list[str] = []
    with Stack(tmp_path / "var", Ports.free(), kafka_storage="s3", log=log.append) as stack:
        stack.start()
        stop = threading.Event()
        supervising = threading.Thread(target=stack.supervise, args=(stop,), daemon=True)
        supervising.start()
        try:
            pids = {child.name: child.pid for child in stack.children}
            killed = pids[VICTIM]

            os.kill(killed, signal.SIGKILL)

            async with httpx.AsyncClient(timeout=2.0) as http:

                async def serving_again() -> bool:
                    if not stack.is_running(VICTIM) or current_pid(stack, VICTIM) == killed:
                        return False
                    try:
                        answer = await http.get(f"{stack.service_url(VICTIM)}/readyz")
                    except httpx.HTTPError:
                        return False
                    return answer.status_code == 200

                await eventually(serving_again, within=BACK_WITHIN, what=f"{VICTIM} serving")

            async def logged_back() -> list[str]:
                return [m for m in log if m.startswith(f"{LABEL} is back")]

            await eventually(logged_back, within=BACK_WITHIN, what="its return logged")
            assert supervising.is_alive()
            others = {name: pid for name, pid in pids.items() if name != VICTIM}
            now = {child.name: child.pid for child in stack.children}
            assert {name: now[name] for name in others} == others
            assert all(stack.is_running(name) for name in others)
            [crash] = [m for m in log if m.startswith(f"{LABEL} was killed by SIGKILL")]
            assert f"last lines of {stack.logs_dir / VICTIM}.log" in crash
            assert f"restarting {LABEL} in 0.5 s" in crash
        finally:
            stop.set()
            supervising.join(BACK_WITHIN)
        assert not supervising.is_alive()


def current_pid(stack: Stack, name: str) -> int:
    [pid] = [child.pid for child in stack.children if child.name == name]
    return pid
