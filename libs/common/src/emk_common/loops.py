"""Background work of a service, in one shape.

* :class:`PollingLoop`: a round runs at start, again whenever it is woken, and at least every
  ``poll_seconds``; a round that fails is logged with the error's type (never its text, which
  may quote data) and retried after a backoff that doubles up to ``max_backoff_seconds``.
  Rounds work on durable state (claims with leases), so a replica stopping mid-round loses
  nothing. Schedulers and dispatchers are rounds; one given a
  :class:`~emk_common.metrics.SchedulerLag` publishes, after each round, how late the items
  the round handled were (``emk_scheduler_lag_seconds``).
* :func:`supervised`: how ``create_app`` runs every background task (the relay, the Kafka
  connection, the loops): one that crashes — an exception no round caught — is logged with its
  frames and started again after a backoff, never silently gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from emk_common.metrics import SchedulerLag

log = logging.getLogger(__name__)

T = TypeVar("T")


class CallCancelledError(Exception):
    """A call ended with a ``CancelledError`` of its own while this task was not asked to
    stop: aiokafka's consumers, for one, cancel a task of theirs on ``stop()`` and await it."""


async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable``, for at most ``seconds`` (then ``TimeoutError``), in this task.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows this task's cancellation when the call
    completes at the same moment. And a ``CancelledError`` the call raises of its own is
    ``CallCancelledError`` here, an error of the call: raised as a cancellation it would end
    this task, which no one asked to stop."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except asyncio.CancelledError:
        stop_if_cancelled()
        raise CallCancelledError from None


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task was asked to stop. A library that turns the
    cancellation of a call into an error of its own (a network error, say) would otherwise
    have a loop that catches such errors go on after its service has stopped."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class PollingLoop:
    def __init__(
        self,
        name: str,
        round_: Callable[[], Awaitable[object]],
        poll_seconds: float,
        *,
        max_backoff_seconds: float = 30.0,
        lag: SchedulerLag | None = None,
    ) -> None:
        self.name = name
        self.lag = lag
        self._round = round_
        self.poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self.rounds = 0  # completed rounds (for health and tests)

    def wake(self) -> None:
        """Run a round now (a change that may have made work due)."""
        self._wake.set()

    async def run(self) -> None:
        first_backoff = min(self.poll_seconds, self._max_backoff)
        backoff = first_backoff
        while True:
            stop_if_cancelled()
            self._wake.clear()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # MongoDB away, say: after a pause, the next round tries
                stop_if_cancelled()
                log.warning(
                    "%s: round failed: %s; retrying in %.1f s",
                    self.name,
                    type(exc).__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            self.rounds += 1
            if self.lag is not None:
                self.lag.publish()
            backoff = first_backoff
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that meets a wake-up, and the loop would outlive its service.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()


async def supervised(
    name: str,
    task: Callable[[], Coroutine[Any, Any, None]],
    *,
    first_backoff: float = 1.0,
    max_backoff: float = 30.0,
) -> None:
    """Run ``task`` until it returns; start it again whenever it crashes."""
    backoff = first_backoff
    while True:
        try:
            await task()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stop_if_cancelled()
            frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
            log.error(
                "background task %s crashed (%s); restarting in %.0f s\n%s",
                name, type(exc).__name__, backoff, frames,
            )  # fmt: skip
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
