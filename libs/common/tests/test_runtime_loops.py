"""A service's background loops run while it serves and stop with it; its shutdown hooks
run once, after the loops have stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import ClassVar

import pytest

from emk_common import service
from emk_common.service import create_app, create_runtime
from emk_common.settings import ServiceSettings
from emk_devstack.stack import Stack


class LoopSettings(ServiceSettings):
    service_name: ClassVar[str] = "loops"


@pytest.fixture(scope="module")
def mongodb_uri(stack: Stack | None) -> str:
    # Read before the unit tests' autouse fixture clears the environment.
    return os.environ["MONGODB_URI"]


async def test_loops_run_while_serving_and_hooks_run_after_they_stop(mongodb_uri: str) -> None:
    runtime = create_runtime(
        LoopSettings(
            mongodb_uri=mongodb_uri,
            mongodb_database=f"loops_{uuid.uuid4().hex[:8]}",
            kafka_bootstrap_servers="127.0.0.1:1",  # not needed here: Kafka stays away
        )
    )
    events: list[str] = []
    running = asyncio.Event()

    async def loop() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            events.append("loop stopped")

    async def close() -> None:
        events.append("closed")

    runtime.background.append(loop)
    runtime.shutdown.append(close)
    app = create_app(runtime, title="loops", description="")
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(running.wait(), 10)
        assert events == []
    assert events == ["loop stopped", "closed"]


async def test_a_loop_that_will_not_stop_does_not_keep_the_service_from_stopping(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service, "_STOP_STEP_SECONDS", 0.2)
    runtime = create_runtime(
        LoopSettings(
            mongodb_uri=mongodb_uri,
            mongodb_database=f"loops_{uuid.uuid4().hex[:8]}",
            kafka_bootstrap_servers="127.0.0.1:1",
        )
    )
    started = asyncio.Event()
    refused: list[asyncio.Task[None]] = []

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            assert current is not None
            refused.append(current)
            await asyncio.Event().wait()  # ignores the first cancellation

    runtime.background.append(stubborn)
    app = create_app(runtime, title="loops", description="")
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(started.wait(), 10)
    assert "did not stop in time" in caplog.text
    for task in refused:  # tidy up: the second cancellation ends it
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_polling_loop_runs_at_once_when_woken_and_after_a_failed_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from emk_common.loops import PollingLoop
    from emk_testing import eventually

    rounds: list[int] = []

    async def round_() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise ValueError("secret data in the message")

    loop = PollingLoop("test loop", round_, poll_seconds=600, max_backoff_seconds=0.05)
    task = asyncio.create_task(loop.run())
    try:
        await eventually(lambda: _at_least(rounds, 1), what="the first round")
        loop.wake()
        # The woken round fails; the next one follows after the (short) backoff, unwoken.
        await eventually(lambda: _at_least(rounds, 3), what="the round after the failure")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert loop.rounds == 2  # the failed one does not count
    assert "test loop: round failed: ValueError" in caplog.text
    assert "secret data" not in caplog.text


async def test_a_background_task_that_crashes_is_logged_and_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from emk_common.loops import supervised

    starts: list[int] = []
    secret = "-".join(["a", "value", "from", "the", "data"])

    async def flaky() -> None:
        starts.append(len(starts))
        if len(starts) < 3:
            raise RuntimeError(secret)

    await asyncio.wait_for(supervised("flaky", flaky, first_backoff=0.01), 5)
    assert starts == [0, 1, 2]
    assert caplog.text.count("background task flaky crashed (RuntimeError)") == 2
    assert secret not in caplog.text


async def _at_least(rounds: list[int], n: int) -> bool:
    return len(rounds) >= n
