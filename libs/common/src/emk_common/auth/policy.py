"""The one access policy for a citizen's personal data (152-ФЗ; API.md), the same in every
service that keeps some:

- the citizen it belongs to sees all of it;
- staff of the roles allowed to read it see it only with a stated reason
  (``X-Access-Reason``), which the service writes into the access log the citizen reads;
- an admin sees what exists (metadata), never the content;
- for anyone else it does not exist: 404, exactly as for an unknown id.

The check runs in two steps: :meth:`PersonalData.check` on the caller alone (role, reason), and
:meth:`PersonalData.require_owner` once the thing is loaded and its owner known. A service
decides whether an unknown id answers 404 before the caller is checked (documents) or after
(applications asks the reason first and reads nothing without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from emk_common.auth.principal import Principal
from emk_common.field_errors import FieldError
from emk_common.problems import Problem

REASON_HEADER = "X-Access-Reason"


class Access(StrEnum):
    OWNER = "owner"  # if it is theirs: see require_owner
    STAFF = "staff"  # with a stated reason, to be logged
    METADATA = "metadata"  # an admin: that it exists and its state, never its content


@dataclass(frozen=True)
class PersonalData:
    """``what`` names the thing for the reason's message («к заявлению»); ``not_found`` is
    the 404's detail; ``admin_refused`` the 403's when an admin asks for content."""

    what: str
    not_found: str
    admin_refused: str
    staff: frozenset[str] = frozenset({"operator"})

    def check(self, who: Principal, *, reason: str | None, content: bool = True) -> Access:
        if who.role == "citizen":
            return Access.OWNER
        if who.role in self.staff:
            if not reason:
                asked = f"Укажите цель доступа {self.what} в заголовке {REASON_HEADER}."
                missing = FieldError(field=REASON_HEADER, code="missing", message=asked)
                raise Problem.validation([missing])
            return Access.STAFF
        if who.role == "admin":
            if content:
                raise Problem.forbidden(self.admin_refused)
            return Access.METADATA
        raise Problem.not_found(self.not_found)

    def require_owner(self, access: Access, who: Principal, owner_id: str | None) -> None:
        """A 404 unless the caller may see what belongs to ``owner_id`` (None: not found)."""
        if owner_id is None or (access is Access.OWNER and owner_id != who.user_id):
            raise Problem.not_found(self.not_found)
