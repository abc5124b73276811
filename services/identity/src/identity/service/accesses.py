"""The citizen's "who saw my data": every service's accesses to their data (kept from
``emk.access``), newest first, a page at a time — each with the reason the service that
holds it gives (asked once per service per page; a service away leaves its reasons out and
says so, never fails the page), and the staff member's name when identity knows them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from emk_common.field_errors import FieldError
from emk_common.problems import Problem
from identity.domain.user import User
from identity.ports import AccessReasonSource, ReasonsUnavailableError
from identity.store.accesses import Access, DataAccesses, Position

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Seen:
    """One access as its owner reads it."""

    access: Access
    actor_name: str | None
    reason: str | None
    reason_unavailable: bool


@dataclass(frozen=True)
class SeenPage:
    items: list[Seen]
    next: str | None  # the cursor of the next (older) page


def encode_cursor(position: Position) -> str:
    millis = int(position.at.timestamp() * 1000)
    raw = f"{millis}|{position.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; a 422 naming ``before`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        millis, entry_id = raw.split("|", 1)
        if not entry_id or not millis.isdigit():
            raise ValueError(raw)
        at = datetime.fromtimestamp(int(millis) / 1000, UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise Problem.validation(
            [
                FieldError.of(
                    "before",
                    "cursor",
                    "Неверный курсор страницы: передайте значение next из предыдущего ответа",
                )
            ]
        ) from None
    return Position(at=at, id=entry_id)


class WhoSaw:
    def __init__(
        self,
        accesses: DataAccesses,
        reasons: AccessReasonSource,
        user: Callable[[str], Awaitable[User | None]],
        staff_roles: frozenset[str],
    ) -> None:
        self.accesses = accesses
        self._reasons = reasons
        self._user = user
        self._staff_roles = staff_roles

    async def page(self, owner_id: str, *, limit: int, before: str | None) -> SeenPage:
        position = decode_cursor(before) if before else None
        found = await self.accesses.of(owner_id, limit=limit + 1, before=position)
        shown, more = found[:limit], len(found) > limit
        reasons, away = await self._reasons_of(owner_id, shown)
        names = await self._names(shown)
        items = [
            Seen(
                access=a,
                actor_name=names.get(a.actor_id) if a.actor_id else None,
                reason=reasons.get(a.id),
                reason_unavailable=a.has_reason and a.service in away,
            )
            for a in shown
        ]
        last = shown[-1] if shown else None
        cursor = encode_cursor(Position(last.at, last.id)) if more and last else None
        return SeenPage(items, cursor)

    async def _reasons_of(
        self, owner_id: str, shown: Sequence[Access]
    ) -> tuple[dict[str, str | None], set[str]]:
        """entry id → reason, from each service with a reason on the page, side by side;
        and the services that did not answer. A service gives the reasons of the owner's
        entries only (an id that names another person's entry answers none)."""
        wanted: dict[str, list[str]] = {}
        for access in shown:
            if access.has_reason:
                wanted.setdefault(access.service, []).append(access.id)
        services = list(wanted)
        answers = await asyncio.gather(
            *(self._reasons.reasons(s, owner_id, wanted[s]) for s in services),
            return_exceptions=True,
        )
        reasons: dict[str, str | None] = {}
        away: set[str] = set()
        for service, answer in zip(services, answers, strict=True):
            if isinstance(answer, ReasonsUnavailableError):
                log.warning("access reasons: %s", answer)
                away.add(service)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                reasons.update(answer)
        return reasons, away

    async def _names(self, shown: Sequence[Access]) -> dict[str, str]:
        """The names of the staff on the page (a citizen's name is not shown)."""
        ids = {a.actor_id for a in shown if a.actor_id and a.actor_role in self._staff_roles}
        names: dict[str, str] = {}
        for actor_id in sorted(ids):
            user = await self._user(actor_id)
            if user is not None and user.role in self._staff_roles:
                person = user.person
                names[actor_id] = " ".join(
                    p for p in (person.last_name, person.first_name, person.middle_name) if p
                )
        return names
