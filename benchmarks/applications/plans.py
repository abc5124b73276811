"""``explain`` of the queries a store builds itself: the store's collection is stood in
for, and each query it would run is explained instead (``find`` … ``to_list``,
``find_one_and_update``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

Doc = dict[str, Any]


class Explained:
    """Stands in for the store's collection: each query the store builds is explained
    instead of run (``find`` … ``to_list`` and ``find_one_and_update``)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.plans: list[Doc] = []

    def find(self, *args: Any, **kwargs: Any) -> ExplainedCursor:
        return ExplainedCursor(self, self.collection.find(*args, **kwargs))

    async def find_one_and_update(self, query: Doc, update: Doc, **_: Any) -> None:
        command = {"findAndModify": self.collection.name, "query": query, "update": update}
        self.plans.append(
            await self.collection.database.command(
                {"explain": command, "verbosity": "executionStats"}
            )
        )


class ExplainedCursor:
    def __init__(self, owner: Explained, cursor: Any) -> None:
        self._owner, self._cursor = owner, cursor

    def sort(self, *args: Any, **kwargs: Any) -> ExplainedCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> ExplainedCursor:
        self._cursor = self._cursor.limit(n)
        return self

    async def to_list(self, length: int | None = None) -> list[Doc]:
        self._owner.plans.append(await self._cursor.explain())
        return []

    def __aiter__(self) -> ExplainedCursor:
        return self

    async def __anext__(self) -> Doc:
        # Iterated like a cursor (the scheduler's candidates): explained, nothing yielded.
        self._owner.plans.append(await self._cursor.explain())
        raise StopAsyncIteration


def _stages(plan: Doc) -> Iterator[Doc]:
    yield plan
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if isinstance(child, dict):
            yield from _stages(child)


def plan_summary(explained: Doc) -> Doc:
    winning = explained["queryPlanner"]["winningPlan"]
    stages = list(_stages(winning))
    scan = next((s for s in stages if s["stage"] == "IXSCAN"), {})
    stats = explained.get("executionStats", {})
    summary = {
        "query": explained["queryPlanner"].get("parsedQuery"),
        "stages": [s["stage"] for s in stages],
        "index": scan.get("indexName"),
        "multikey": scan.get("isMultiKey"),
        "blocking_sort_in_memory": any(s["stage"] == "SORT" for s in stages),
        "keys_examined": stats.get("totalKeysExamined"),
        "docs_examined": stats.get("totalDocsExamined"),
        "returned": stats.get("nReturned"),
        "server_ms": stats.get("executionTimeMillis"),
        "winning_plan": winning,
    }
    return cast(Doc, json.loads(json.dumps(summary, default=str)))
