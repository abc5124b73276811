"""Who may list and decide documents (API.md). Reading one follows the platform's one
policy for personal data (``emk_common.auth.PersonalData``: the owner; an operator with a
reason; an admin its metadata, never its content; nobody else).

Only an operator decides. Every read and decision goes into the access log (who, what,
when, why): the service records it.
"""

from __future__ import annotations

STAFF = ("operator", "admin")


class AccessDeniedError(Exception):
    """What this person may not do with documents (each case says how it is answered)."""


class NotVisibleError(AccessDeniedError):
    """The document does not exist for this person (404, as for a missing one)."""


class ListForbiddenError(AccessDeniedError):
    """Documents are listed to their owners and to staff only."""


class NotReviewerError(AccessDeniedError):
    """Only an operator verifies or rejects a document."""


def listed_owner(*, user_id: str, role: str) -> str | None:
    """Whose documents this person's list shows: a citizen's own, everyone's for staff."""
    if role == "citizen":
        return user_id
    if role not in STAFF:
        raise ListForbiddenError
    return None


def check_reviewer(role: str) -> None:
    if role != "operator":
        raise NotReviewerError
