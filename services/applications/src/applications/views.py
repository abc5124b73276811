"""What the API shows of an application, and its lists («Мои обращения», the queue)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from applications.domain.queue import lane_for
from applications.domain.statuses import LABELS, OPEN, Status
from applications.domain.vocabulary import DOCUMENT_LABELS
from applications.lifecycle import Applications
from applications.store import Doc
from emk_common.auth import Principal
from emk_common.problems import FieldError, Problem


async def detail(applications: Applications, application: Doc) -> dict[str, Any]:
    attached: dict[str, Any] = application.get("documents") or {}
    statuses = await applications.store.document_statuses_of(
        d["document_id"] for d in attached.values()
    )
    employer = application.get("employer") or {}
    return {
        **summary(application),  # what the lists show, and the rest
        "applicant_id": application["applicant_id"],
        "employer": {k: v for k, v in employer.items() if k != "registry_checked"},
        "employer_checked_in_registry": bool(employer.get("registry_checked")),
        "oms_policy": applications.oms_policy(application),
        "consent": application.get("consent"),
        "documents": [
            {
                "kind": kind,
                "kind_label": DOCUMENT_LABELS.get(kind, kind),
                "document_id": entry["document_id"],
                "status": statuses.get(entry["document_id"], "pending_review"),
                "attached_at": entry["attached_at"],
            }
            for kind, entry in sorted(attached.items())
        ],
        "answer_due": application.get("answer_due"),
        "clarification": application.get("clarification"),
        "rejection": application.get("rejection"),
        "history": [
            {k: entry.get(k) for k in ("status", "status_label", "at", "by", "by_role", "comment")}
            for entry in application.get("history", [])
        ],
    }


def summary(application: Doc) -> dict[str, Any]:
    status = Status(application["status"])
    return {
        "id": application["_id"],
        "number": application.get("number"),
        "status": str(status),
        "status_label": LABELS[status],
        "employer_name": (application.get("employer") or {}).get("name"),
        "due_date": application.get("due_date"),
        "overdue": bool(application.get("overdue")),
        "assignee_id": application.get("assignee_id"),
        "submitted_at": application.get("submitted_at"),
        "created_at": application["created_at"],
        "last_changed_at": application["last_changed_at"],
    }


async def listing(
    applications: Applications,
    who: Principal,
    *,
    status: Status | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of «Мои обращения» (a citizen's own, newest first) or of the operators' queue
    (oldest due first), with the total from counters and the cursor of the next page."""
    after = _decode(cursor)
    store = applications.store
    if who.role == "citizen":
        if status is not None or overdue is not None:
            raise Problem.validation(
                [_error("status", "not_allowed", "Фильтры доступны только в очереди оператора.")]
            )
        rows = await store.own_page(who.user_id, after, limit + 1)
        total = await store.total(f"applicant:{who.user_id}")
        next_key = rows[limit - 1]["_id"] if len(rows) > limit else None
    elif who.role == "operator":
        if status is Status.DRAFT:
            raise Problem.validation(
                [_error("status", "choice", "Черновики не попадают в очередь оператора.")]
            )
        if overdue is not None and status is not None and status not in OPEN:
            raise Problem.validation(
                [
                    _error(
                        "overdue", "not_allowed", "Просрочка считается только у заявлений в работе."
                    )
                ]
            )
        lane = lane_for(status, overdue)
        rows = await store.queue_page(lane, after, limit + 1)
        total = await store.total(lane)
        next_key = rows[limit - 1]["queue_key"] if len(rows) > limit else None
    else:
        raise Problem.forbidden("Список заявлений доступен заявителю и операторам.")
    return {
        "items": [summary(r) for r in rows[:limit]],
        "total": total,
        "next_cursor": _encode(next_key) if next_key else None,
    }


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


# An application id, or a queue key ``due date|id`` (see domain/queue.py).
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}\|)?[0-9a-f]{32}")


def _decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if _CURSOR.fullmatch(key) is None:
            raise ValueError(key)
        return key
    except (binascii.Error, ValueError):
        raise Problem.validation(
            [_error("cursor", "invalid", "Неверный курсор страницы: начните список с начала.")]
        ) from None


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field=field, code=code, message=message)
