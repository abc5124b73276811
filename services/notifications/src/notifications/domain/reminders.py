"""Reminders before a book's due dates, and the quiet hours in which no SMS goes out.

Records sends the book's whole current list of due items (``BookDueDatesChanged``); this
service decides when to remind: at each of the person's chosen days before a due date
(default 30 and 7), at ``send_hour`` in the morning, Moscow time. A reminder whose moment has
passed while its due date is still ahead goes out at once — one per due item (the nearest of
the passed moments), not one for every moment missed; none is planned for a date already
passed. A reminder's id names its book, item, due date and days before: planning again (a
redelivered event, new preferences, the same due date in a new list) finds the same reminders
and sends nothing twice; a due date that moved makes new ids, and the old pending ones are
cancelled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from emk_common.catalog import DueItem

MOSCOW = ZoneInfo("Europe/Moscow")


class ReminderState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Reminder:
    id: str
    user_id: str
    book_id: str
    item_id: str
    due_kind: str
    due_date: date
    days_before: int
    send_at: datetime
    state: ReminderState = ReminderState.PENDING
    # The token of the claim this copy was read under (firing is conditional on it).
    claim: str | None = None

    def days_left(self, now: datetime) -> int:
        return (self.due_date - now.astimezone(MOSCOW).date()).days


def reminder_id(book_id: str, item: DueItem, days_before: int) -> str:
    return f"{book_id}:{item.item_id}:{item.due_date.isoformat()}:{days_before}"


def plan(
    *,
    user_id: str,
    book_id: str,
    due: Iterable[DueItem],
    days_before: Sequence[int],
    now: datetime,
    send_hour: int,
) -> list[Reminder]:
    """The reminders the book's due items call for now (see the module's docstring)."""
    today = now.astimezone(MOSCOW).date()
    planned: list[Reminder] = []
    for item in due:
        if item.due_date <= today:
            continue  # already due or passed: nothing to remind of
        moments = {
            days: datetime.combine(item.due_date - timedelta(days=days), time(send_hour), MOSCOW)
            for days in sorted(set(days_before), reverse=True)
        }
        passed = [days for days, moment in moments.items() if moment <= now]
        for days, moment in moments.items():
            if moment <= now and days != min(passed):
                continue  # a missed moment with a nearer one missed too: only the nearest goes
            planned.append(
                Reminder(
                    id=reminder_id(book_id, item, days),
                    user_id=user_id,
                    book_id=book_id,
                    item_id=item.item_id,
                    due_kind=item.kind,
                    due_date=item.due_date,
                    days_before=days,
                    send_at=moment,  # a moment passed: due at once
                )
            )
    return planned


@dataclass(frozen=True)
class QuietHours:
    """No SMS from ``start`` to ``end`` o'clock (the window may cross midnight) in
    ``zone``, except one-time codes; in-app and e-mail are never held. The settings give
    the default hours; a person may choose their own, and either applies in the person's
    time zone (:func:`quiet_hours_of`)."""

    start: int = 21
    end: int = 9
    zone: ZoneInfo = MOSCOW

    def until(self, now: datetime) -> datetime | None:
        """When the window ``now`` falls in ends; None outside it."""
        local = now.astimezone(self.zone)
        hour = local.hour
        if self.start == self.end:
            return None  # no window
        inside = (
            self.start <= hour < self.end
            if self.start < self.end
            else hour >= self.start or hour < self.end
        )
        if not inside:
            return None
        end_day = local.date() if hour < self.end else local.date() + timedelta(days=1)
        return datetime.combine(end_day, time(self.end), self.zone)


def quiet_hours_of(
    chosen: tuple[int, int] | None, default: QuietHours | None, zone: ZoneInfo
) -> QuietHours | None:
    """A person's quiet hours: the hours they chose, in their own ``zone`` (from their
    address region); else the default window as settings give it — 21 to 9 Moscow time, as
    the issue and DOMAIN.md put it (None: no window at all, so SMS go at any hour)."""
    if chosen is not None:
        return QuietHours(chosen[0], chosen[1], zone)
    return default
