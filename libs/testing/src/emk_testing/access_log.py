"""An access log in memory, as ``emk_common.audit.AccessLog`` keeps one: for unit tests of
use cases that log who read or changed a person's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emk_common.audit import AccessEntry


@dataclass
class MemoryAccessLog:
    """Entries about one kind of thing (``subject``: ``book``, ``person``…), each naming it as
    ``<subject>_id``, as the real log does."""

    subject: str = "subject"
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def _field(self) -> str:
        return f"{self.subject}_id"

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
        self.entries.append(
            {self._field: subject_id, "owner_id": owner_id, "actor_id": actor_id,
             "actor_role": actor_role, "action": action, "reason": reason, "at": at,
             "organization_id": organization_id}
        )  # fmt: skip

    async def of(self, subject_id: str, *, limit: int = 100) -> list[AccessEntry]:
        found = [e for e in reversed(self.entries) if e[self._field] == subject_id][:limit]
        return [
            AccessEntry(e["at"], e["actor_id"], e["actor_role"], e["action"], e["reason"],
                        e.get("organization_id"))
            for e in found
        ]  # fmt: skip
