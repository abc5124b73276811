"""Reading on fakes of the ports and of the store: one application (its applicant, or staff
for a stated reason, logged), «Мои обращения» and the operators' queue a page at a time, and
the production calendar an admin keeps."""

from __future__ import annotations

from datetime import date

import pytest

from applications.domain.calendar import Override, Period
from applications.domain.parts import Actor
from applications.domain.statuses import Status
from emk_common.auth import Principal, Role
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem

from .fakes import START, Rig, person, rig
from .steps import CITIZEN, OPERATOR, STRANGER, complete, drafted, submitted, wrong

ADMIN = person("admin-1", "admin")
REASON = "проверка заявления"


@pytest.fixture
def s() -> Rig:
    return rig()


async def test_the_applicant_reads_their_own_and_nobody_else_does(s: Rig) -> None:
    application = await drafted(s)
    assert await s.applications.visible(CITIZEN, application.id, None) == application
    with pytest.raises(Problem) as caught:
        await s.applications.visible(STRANGER, application.id, None)
    assert caught.value.status == 404
    assert s.store.reads == []  # an applicant's own reads are not logged


async def test_an_operator_reads_for_a_stated_reason_and_it_is_logged(s: Rig) -> None:
    application = await submitted(s)
    with pytest.raises(Problem) as no_reason:
        await s.applications.visible(OPERATOR, application.id, None)
    assert no_reason.value.status == 422
    assert [e.field for e in no_reason.value.errors] == ["X-Access-Reason"]
    assert s.store.reads == []
    assert await s.applications.visible(OPERATOR, application.id, REASON) == application
    assert s.store.reads == [(application.id, Actor("operator-1", "operator"), REASON, START)]


async def test_staff_see_no_draft_and_an_admin_no_application(s: Rig) -> None:
    application = await complete(s)
    with pytest.raises(Problem) as draft:
        await s.applications.visible(OPERATOR, application.id, REASON)
    assert draft.value.status == 404
    with pytest.raises(Problem) as admin:
        await s.applications.visible(ADMIN, application.id, REASON)
    assert admin.value.status == 403
    assert s.store.reads == []


async def test_my_applications_newest_first_a_page_at_a_time(s: Rig) -> None:
    # Ids sort by creation time (to the millisecond: drafts of one millisecond by chance).
    ids = sorted([(await drafted(s)).id for _ in range(3)])
    await drafted(s, STRANGER)
    first = await s.applications.listing(
        CITIZEN, reason=None, status=None, overdue=None, cursor=None, limit=2
    )
    assert ([a.id for a in first.items], first.total) == ([ids[2], ids[1]], 3)
    assert first.next_cursor is not None
    last = await s.applications.listing(
        CITIZEN, reason=None, status=None, overdue=None, cursor=first.next_cursor, limit=2
    )
    assert ([a.id for a in last.items], last.total, last.next_cursor) == ([ids[0]], 3, None)
    assert s.store.reads == []  # an applicant's own list is not logged


async def test_the_queue_oldest_due_first_a_page_at_a_time(s: Rig) -> None:
    early = await submitted(s)
    s.clock.advance(days=1)
    late = await submitted(s, STRANGER)
    await complete(s)  # a draft is in no queue
    assert (early.due_date, late.due_date) == (date(2026, 3, 10), date(2026, 3, 11))
    first = await s.applications.listing(
        OPERATOR, reason=REASON, status=None, overdue=None, cursor=None, limit=1
    )
    assert ([a.id for a in first.items], first.total) == ([early.id], 2)
    assert first.items[0].employer_name == "ООО «Ромашка»"
    second = await s.applications.listing(
        OPERATOR, reason=REASON, status=None, overdue=None, cursor=first.next_cursor, limit=1
    )
    assert ([a.id for a in second.items], second.next_cursor) == ([late.id], None)
    await s.applications.take(OPERATOR, late.id)
    taken = await s.applications.listing(
        OPERATOR, reason=REASON, status=Status.IN_REVIEW, overdue=False, cursor=None, limit=10
    )
    assert ([a.id for a in taken.items], taken.total) == ([late.id], 1)


@pytest.mark.parametrize(
    ("who", "status", "overdue", "refusal"),
    [
        (CITIZEN, Status.SUBMITTED, None, ("status", "not_allowed")),
        (CITIZEN, None, True, ("status", "not_allowed")),
        (OPERATOR, Status.DRAFT, None, ("status", "choice")),
        (OPERATOR, Status.APPROVED, True, ("overdue", "not_allowed")),
    ],
)
async def test_a_list_filter_that_does_not_apply_is_refused(
    s: Rig, who: Principal, status: Status | None, overdue: bool | None, refusal: tuple[str, str]
) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.listing(
            who, reason=REASON, status=status, overdue=overdue, cursor=None, limit=10
        )
    assert wrong(caught) == [refusal]


@pytest.mark.parametrize("cursor", ["!!!", "bm90LWEta2V5", "MjAyNi0wMy0xMHw"])
async def test_a_cursor_we_never_gave_is_refused(s: Rig, cursor: str) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.listing(
            OPERATOR, reason=REASON, status=None, overdue=None, cursor=cursor, limit=10
        )
    assert wrong(caught) == [("cursor", "invalid")]


@pytest.mark.parametrize("role", ["admin", "employer", "medical_worker"])
async def test_lists_are_for_applicants_and_operators(s: Rig, role: Role) -> None:
    who = person("someone", role)
    with pytest.raises(Problem) as caught:
        await s.applications.listing(
            who, reason=REASON, status=None, overdue=None, cursor=None, limit=10
        )
    assert caught.value.status == 403


async def test_the_queue_asks_for_a_reason_and_logs_each_application_it_shows(s: Rig) -> None:
    early = await submitted(s)
    s.clock.advance(days=1)
    late = await submitted(s, STRANGER)
    with pytest.raises(Problem) as no_reason:
        await s.applications.listing(
            OPERATOR, reason=None, status=None, overdue=None, cursor=None, limit=10
        )
    assert (no_reason.value.status, [e.field for e in no_reason.value.errors]) == (
        422,
        ["X-Access-Reason"],
    )
    assert s.store.listed == []
    page = await s.applications.listing(
        OPERATOR, reason=REASON, status=None, overdue=None, cursor=None, limit=1
    )
    assert [a.id for a in page.items] == [early.id]
    operator = Actor("operator-1", "operator")
    assert s.store.listed == [(early.id, operator, REASON, s.clock())]  # the one shown
    assert late.id not in [read[0] for read in s.store.listed]


async def test_the_calendar_an_admin_keeps_moves_the_deadlines(s: Rig) -> None:
    saved = await s.applications.replace_calendar(
        ADMIN, [(date(2026, 6, 1), date(2026, 6, 30))], [Override(date(2026, 3, 9), True)]
    )
    assert saved.peak_periods == (Period(date(2026, 6, 1), date(2026, 6, 30)),)
    assert (saved.overrides, saved.updated_at, saved.updated_by) == (
        (Override(date(2026, 3, 9), True),),
        START,
        "admin-1",
    )
    assert await s.applications.calendar_settings() == saved
    application = await submitted(s)
    assert application.due_date == date(2026, 3, 9)  # 9 March made a working day


async def test_a_calendar_with_a_backward_period_is_not_saved(s: Rig) -> None:
    before = s.store.snapshot()
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.replace_calendar(ADMIN, [(date(2026, 6, 30), date(2026, 6, 1))], [])
    assert wrong(caught) == [("peak_periods.0.end", "before_start")]
    assert s.store.snapshot() == before
