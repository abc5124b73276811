"""The one access policy for a citizen's personal data: owner, staff with a reason, admin
metadata only, nobody else."""

from __future__ import annotations

import pytest

from emk_common.auth import Access, PersonalData, Principal, Role
from emk_common.problems import Problem

POLICY = PersonalData(
    what="к заявлению",
    not_found="Заявление не найдено.",
    admin_refused="Администратор не просматривает заявления граждан.",
)


def caller(role: Role, user_id: str = "u1") -> Principal:
    return Principal(user_id, role, None, None, "jti")


def refused(role: Role, *, reason: str | None = None, content: bool = True) -> Problem:
    with pytest.raises(Problem) as raised:
        POLICY.check(caller(role), reason=reason, content=content)
    return raised.value


def test_the_owner_sees_their_own_and_nobody_elses() -> None:
    access = POLICY.check(caller("citizen"), reason=None)
    assert access is Access.OWNER
    POLICY.require_owner(access, caller("citizen"), "u1")
    with pytest.raises(Problem) as raised:
        POLICY.require_owner(access, caller("citizen"), "someone-else")
    assert (raised.value.status, raised.value.detail) == (404, "Заявление не найдено.")


def test_staff_need_a_reason_and_then_see_anyones() -> None:
    missing = refused("operator")
    assert missing.status == 422
    assert [e.model_dump() for e in missing.errors] == [
        {
            "field": "X-Access-Reason",
            "code": "missing",
            "message": "Укажите цель доступа к заявлению в заголовке X-Access-Reason.",
        }
    ]
    access = POLICY.check(caller("operator"), reason="Проверка заявления")
    assert access is Access.STAFF
    POLICY.require_owner(access, caller("operator"), "someone")


def test_an_admin_sees_metadata_never_content() -> None:
    assert POLICY.check(caller("admin"), reason=None, content=False) is Access.METADATA
    forbidden = refused("admin")
    assert (forbidden.status, forbidden.detail) == (
        403,
        "Администратор не просматривает заявления граждан.",
    )


@pytest.mark.parametrize("role", ["medical_worker", "employer"])
def test_for_anyone_else_it_does_not_exist(role: Role) -> None:
    assert refused(role, reason="любопытство").status == 404


def test_something_missing_is_a_404_for_everyone() -> None:
    with pytest.raises(Problem) as raised:
        POLICY.require_owner(Access.STAFF, caller("operator"), None)
    assert raised.value.status == 404
