"""The access log every service keeps of a citizen's data (152-ФЗ ст. 19: who did what
with whose data, when and why) — one shape for all, so the citizen's «who accessed my
data» can be answered the same way everywhere.

The log is the service's audit journal (:mod:`emk_common.journal`): each entry also names the
kind of thing (``resource``) and the trace it was made in, and is sealed into the hash chain
shortly after it is written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from emk_common.clock import Clock, utc_now
from emk_common.journal import new_entry


@dataclass(frozen=True)
class AccessEntry:
    """One entry as its owner reads it."""

    at: datetime
    actor_id: str
    actor_role: str
    action: str
    reason: str | None
    organization_id: str | None = None


class AccessRecorder(Protocol):
    """What a service needs to log an access (``AccessLog``; fakes in unit tests)."""

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
    ) -> None: ...


class AccessLog:
    """Entries about one kind of thing (``subject``: ``document``, ``application``…),
    each naming it as ``<subject>_id`` and its owner as ``owner_id``."""

    def __init__(
        self, collection: AsyncCollection[dict[str, Any]], subject: str, clock: Clock = utc_now
    ) -> None:
        self.collection = collection
        self.subject = subject
        self._subject_field = f"{subject}_id"
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [(self._subject_field, 1), ("at", DESCENDING)], name=f"by_{self._subject_field}"
        )

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
        await self.collection.insert_one(
            self.entry(
                subject_id, owner_id, actor_id=actor_id, actor_role=actor_role, action=action,
                reason=reason, at=at, organization_id=organization_id,
            )
        )  # fmt: skip

    def entry(
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
        listed: bool = True,
    ) -> dict[str, Any]:
        """The entry ``record`` inserts; a write stages it in the aggregate's own write
        instead (:func:`emk_common.journal.stage`). One not ``listed`` is in the journal but
        not in what the owner reads (``of``): a change the service also records as an access
        of its own, until that access is the staged entry itself."""
        fields: dict[str, Any] = {
            "resource": self.subject,
            self._subject_field: subject_id,
            "owner_id": owner_id,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "action": action,
            "reason": reason,
            "at": at or self._clock(),
        }
        if organization_id is not None:
            fields["organization_id"] = organization_id
        if not listed:
            fields["listed"] = False
        return new_entry(fields)

    async def record_many(
        self,
        subjects: Iterable[tuple[str, str]],
        *,
        actor_id: str,
        actor_role: str,
        action: str,
        reason: str | None,
        at: datetime | None = None,
    ) -> None:
        """One entry per ``(subject id, owner id)`` — the items of a list shown — in one
        write."""
        when = at or self._clock()
        entries = [
            self.entry(
                subject_id, owner_id, actor_id=actor_id, actor_role=actor_role, action=action,
                reason=reason, at=when,
            )
            for subject_id, owner_id in subjects
        ]  # fmt: skip
        if entries:
            await self.collection.insert_many(entries, ordered=False)

    async def of(self, subject_id: str, *, limit: int = 100) -> list[AccessEntry]:
        """The newest entries about one subject, newest first (what its owner reads)."""
        cursor = (
            self.collection.find(
                {self._subject_field: subject_id, "listed": {"$ne": False}}, {"_id": 0}
            )
            .sort([("at", DESCENDING), ("_id", DESCENDING)])  # the same instant: as written
            .limit(limit)
        )
        return [_entry(doc) for doc in await cursor.to_list()]


def _entry(doc: dict[str, Any]) -> AccessEntry:
    return AccessEntry(
        at=doc["at"],
        actor_id=doc["actor_id"],
        actor_role=doc["actor_role"],
        action=doc["action"],
        reason=doc.get("reason"),
        organization_id=doc.get("organization_id"),
    )
