"""Where an application sits in the lists, as plain values the store indexes.

Every list a person opens must be an index range with few candidates, because the local
MongoDB sorts in memory: a closed application must never be a candidate for the open
queue, however many are stored. So each application carries its *lanes* — the list
names it belongs to — and a ``queue_key`` that sorts oldest-due first and doubles as the
pagination cursor (``due date|id``: unique, and ordered by due date first).
A counter per lane gives the totals without counting over the collection.
"""

from __future__ import annotations

from datetime import date

from applications.domain.statuses import OPEN, Status

OPEN_LANE = "open"


def lanes(status: Status, *, overdue: bool) -> list[str]:
    """The lists an application in ``status`` belongs to; a draft is in none of them."""
    if status is Status.DRAFT:
        return []
    result = [f"status:{status}"]
    if status in OPEN:
        timing = "overdue" if overdue else "ontime"
        result += [OPEN_LANE, timing, f"{timing}:{status}"]
    return result


def lane_for(status: Status | None, overdue: bool | None) -> str:
    """The one lane that answers a queue filter (status and/or overdue; none = all open)."""
    if overdue is None:
        return f"status:{status}" if status is not None else OPEN_LANE
    timing = "overdue" if overdue else "ontime"
    return f"{timing}:{status}" if status is not None else timing


def queue_key(due_date: date | None, application_id: str) -> str:
    # A submitted application always has a due date; the fallback only keeps drafts sortable.
    return f"{due_date.isoformat() if due_date else '9999-12-31'}|{application_id}"


def lane_changes(before: list[str], after: list[str]) -> dict[str, int]:
    """Counter increments for a move from one set of lanes to another."""
    changes = dict.fromkeys(set(after) - set(before), 1)
    changes.update(dict.fromkeys(set(before) - set(after), -1))
    return changes
