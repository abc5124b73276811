"""Appends to one collection written together (group commit): every caller waits until the
``insert_many`` that carries its document is acknowledged, and while one is in flight the
documents arriving meanwhile gather into the next. Under load one round trip serves many
requests; alone, a request pays one insert and no timer.

The local MongoDB charges about 1.1 ms for an insert alone and 0.45 ms a document in a batch
of eight (measured for the public check's log, ``benchmarks/public_check.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

log = logging.getLogger(__name__)

BATCH = 500  # documents an insert_many carries at most


class GroupInsert:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, document: dict[str, Any]) -> None:
        """Returns once ``document`` is written; raises what its batch's write raised (the
        batch may then be written in part: ``ordered=False``)."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        written.add_done_callback(_retrieved)  # no "never retrieved" noise for a gone caller
        self._waiting.append((document, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=f"group insert {self.name}")
        # A caller that goes away leaves its document to be written all the same.
        await asyncio.shield(written)

    @property
    def name(self) -> str:
        return self.collection.full_name

    async def drain(self) -> None:
        """Waits for every document handed in so far (at shutdown)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer})

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            try:
                await self.collection.insert_many([doc for doc, _ in batch], ordered=False)
            except BaseException as exc:
                log.warning("group insert into %s failed: %s", self.name, type(exc).__name__)
                for _, written in batch:
                    written.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
                if not isinstance(exc, Exception):
                    self._fail_waiting()
                    raise
            else:
                for _, written in batch:
                    written.set_result(None)

    def _fail_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for _, written in waiting:
            written.set_exception(RuntimeError("the group insert was stopped"))


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
