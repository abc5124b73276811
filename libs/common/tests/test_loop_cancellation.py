"""A background loop stops when its service stops, even when it is woken at that moment.

On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that meets the completion of what
it waits for: a polling loop (or the outbox relay) woken as the service stopped went on
running after the service had closed its MongoDB client, in every test module after it and in
a stopping process. The loops wait with ``asyncio.timeout`` instead."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from emk_common.loops import CallCancelledError, PollingLoop, bounded

ROOT = Path(__file__).resolve().parents[3]


async def test_a_polling_loop_woken_as_it_is_cancelled_stops() -> None:
    for _ in range(50):
        ran = asyncio.Event()

        async def round_() -> None:
            ran.set()  # noqa: B023 - this iteration's loop calls it

        loop = PollingLoop("unit", round_, poll_seconds=30.0)
        task = asyncio.create_task(loop.run())
        await ran.wait()
        await asyncio.sleep(0)  # now waiting to be woken
        loop.wake()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert task in done, "the loop outlived its cancellation"
        assert task.cancelled()


def test_no_service_code_waits_with_asyncio_wait_for() -> None:
    """The same trap anywhere else: the services' and libraries' code uses asyncio.timeout."""
    found = []
    for path in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "wait_for"
                and isinstance(node.value, ast.Name)
                and node.value.id == "asyncio"
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


async def test_a_cancellation_a_call_raises_of_its_own_is_its_error_not_the_tasks() -> None:
    """aiokafka's ``consumer.stop()`` awaits a task of its own that it cancelled: bounded
    makes that an error of the call, so the caller's task is not ended by it."""

    async def stops_like_aiokafka() -> None:
        inner = asyncio.create_task(asyncio.sleep(10))
        inner.cancel()
        await inner

    with pytest.raises(CallCancelledError):
        await bounded(stops_like_aiokafka(), 5.0)
    with pytest.raises(TimeoutError):
        await bounded(asyncio.sleep(10), 0.01)
    assert await bounded(asyncio.sleep(0, result="done"), 1.0) == "done"


async def test_bounded_still_lets_its_own_task_be_cancelled() -> None:
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await bounded(asyncio.sleep(10), 30.0)

    task = asyncio.create_task(waits())
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done
    assert task.cancelled()
