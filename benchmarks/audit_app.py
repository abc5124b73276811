"""The records service exactly as ``main.py`` builds it — but its reads leave no journal
entry: the baseline of the audit bench (``benchmarks/audit.py``), the same read without the
journal. Its access log keeps nothing, and it runs no sealer (the audited service does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emk_common.audit import AccessEntry
from emk_common.journal import Journal
from records.app import build
from records.settings import RecordsSettings


class Unjournaled:
    """``records.ports.AccessJournal`` that keeps nothing."""

    async def record(
        self,
        subject_id: str,
        owner_id: str,
        *,
        actor_id: str,
        actor_role: str,
        action: str,
        reason: str | None,
        at: datetime | None = None,
        organization_id: str | None = None,
    ) -> None:
        return None

    async def of(self, subject_id: str, *, limit: int = 100) -> list[AccessEntry]:
        return []

    async def ensure_indexes(self) -> None:
        return None


app = build(RecordsSettings())
app.state.records.store.access_log = Unjournaled()
runtime: Any = app.state.runtime
runtime.background[:] = [
    loop for loop in runtime.background if not isinstance(getattr(loop, "__self__", None), Journal)
]
