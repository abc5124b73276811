"""Reading: one application (its applicant, or staff for a stated reason, logged) and the
lists — «Мои обращения» and the operators' queue — a page at a time, with an opaque cursor.
The queue shows whose applications they are, so it asks an operator for a reason as a single
read does, and logs each application it shows."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from applications.domain.application import Application
from applications.domain.parts import Summary
from applications.domain.queue import lane_for
from applications.domain.statuses import OPEN, Status
from applications.service.core import Core, actor_of
from applications.service.problems import POLICY
from emk_common.auth import Access, Principal
from emk_common.field_errors import FieldErrors
from emk_common.problems import Problem

# An application id, or a queue key ``due date|id`` (see domain/queue.py).
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}\|)?[0-9a-f]{32}")


@dataclass(frozen=True)
class Page:
    items: list[Summary]
    total: int
    next_cursor: str | None


class Reading(Core):
    async def visible(self, who: Principal, application_id: str, reason: str | None) -> Application:
        access = POLICY.check(who, reason=reason)
        if access is Access.OWNER:
            return await self.own(who, application_id)
        application = await self._existing(application_id)
        assert reason is not None  # the policy asks staff for one
        await self.store.log_read(application, actor_of(who), reason, self.clock())
        return application

    async def listing(
        self,
        who: Principal,
        *,
        reason: str | None,
        status: Status | None,
        overdue: bool | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """A page of «Мои обращения» (a citizen's own, newest first) or of the operators' queue
        (oldest due first), with the total from counters and the cursor of the next page."""
        after = _decode(cursor)
        errors = FieldErrors()
        if who.role == "citizen":
            if status is not None or overdue is not None:
                message = "Фильтры доступны только в очереди оператора."
                errors.add_sentence("status", "not_allowed", message)
                errors.raise_if_any()
            rows = await self.store.own_page(who.user_id, after, limit + 1)
            total = await self.store.total(f"applicant:{who.user_id}")
            next_key = rows[limit - 1].id if len(rows) > limit else None
        elif who.role == "operator":
            POLICY.check(who, reason=reason)  # before anything is read
            if status is Status.DRAFT:
                message = "Черновики не попадают в очередь оператора."
                errors.add_sentence("status", "choice", message)
            elif overdue is not None and status is not None and status not in OPEN:
                message = "Просрочка считается только у заявлений в работе."
                errors.add_sentence("overdue", "not_allowed", message)
            errors.raise_if_any()
            lane = lane_for(status, overdue)
            rows = await self.store.queue_page(lane, after, limit + 1)
            total = await self.store.total(lane)
            next_key = rows[limit - 1].queue_key if len(rows) > limit else None
            assert reason is not None  # the policy asks an operator for one
            await self.store.log_listed(rows[:limit], actor_of(who), reason, self.clock())
        else:
            raise Problem.forbidden("Список заявлений доступен заявителю и операторам.")
        return Page(rows[:limit], total, _encode(next_key) if next_key else None)


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if _CURSOR.fullmatch(key) is not None:
            return key
    except (binascii.Error, ValueError):
        pass
    errors = FieldErrors()
    errors.add_sentence("cursor", "invalid", "Неверный курсор страницы: начните список с начала.")
    errors.raise_if_any()
    return None
