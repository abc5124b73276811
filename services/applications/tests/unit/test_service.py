"""The applicant's use cases on fakes of the ports and of the store: a draft (its employer
checked in ЕГРЮЛ), its documents, submission. The operator's are in ``test_review.py``,
reading in ``test_reading.py``, the deadlines in ``test_scheduler.py``. No server: what the
MongoDB store does (the document's shape, counters, claims between replicas) is tested in
tests/api."""

from __future__ import annotations

from datetime import date

import pytest

from applications.domain.parts import Attachment
from applications.domain.registry import Lookup, Organisation
from applications.domain.statuses import Status
from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem

from .fakes import ADDRESS, INN, OGRN, OMS, START, Rig, bearer, draft, employer, person, rig
from .steps import (
    CITIZEN,
    STRANGER,
    attach,
    complete,
    drafted,
    review,
    state,
    submitted,
    wrong,
)


@pytest.fixture
def s() -> Rig:
    return rig()


# --- a draft ----------------------------------------------------------------------------------


async def test_a_ready_citizen_gets_a_draft_with_its_event(s: Rig) -> None:
    application = await drafted(s)
    assert s.store.applications[application.id] == application
    assert (application.status, application.version) == (Status.DRAFT, 1)
    assert (application.applicant_id, application.oms_policy) == ("citizen-1", OMS)
    assert application.employer.inn == INN
    assert not application.employer.registry_checked  # the register does not know the pair
    assert application.consent is not None
    assert (application.consent.given_at, application.consent.text_version) == (
        START,
        "2025-09-01",
    )
    assert [(h.status, h.by, h.comment) for h in application.history] == [
        (Status.DRAFT, "citizen-1", "Черновик создан")
    ]
    assert application.lanes == []  # not in any list of the operators
    [event] = s.store.events
    assert isinstance(event, catalog.ApplicationDrafted)
    assert (event.application_id, event.applicant_id) == (application.id, "citizen-1")
    assert s.egrul.asked == [(INN, OGRN)]


async def test_an_account_not_ready_gets_no_draft(s: Rig) -> None:
    with pytest.raises(Problem) as caught:
        await s.applications.create(CITIZEN, bearer(CITIZEN), draft())
    assert state(caught) == (409, "account_not_ready")
    assert (s.store.applications, s.store.events, s.egrul.asked) == ({}, [], [])


@pytest.mark.parametrize(
    ("down", "signed_out", "status"), [("identity", False, 503), (None, True, 401)]
)
async def test_identity_away_or_a_stale_token_gets_no_draft(
    s: Rig, down: str | None, signed_out: bool, status: int
) -> None:
    s.upstream.ready.add(CITIZEN.user_id)
    s.upstream.down, s.upstream.signed_out = "identity" if down else None, signed_out
    with pytest.raises(Problem) as caught:
        await s.applications.create(CITIZEN, bearer(CITIZEN), draft())
    assert caught.value.status == status
    if status == 503:
        assert caught.value.headers["Retry-After"] == "10"
    assert (s.store.applications, s.store.events) == ({}, [])


async def test_every_wrong_field_is_named_at_once_and_the_register_is_not_asked(s: Rig) -> None:
    s.upstream.ready.add(CITIZEN.user_id)
    bad = draft(employer=employer(inn="7734567890"), oms_policy="123")
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.create(CITIZEN, bearer(CITIZEN), bad)
    assert {field for field, _ in wrong(caught)} == {"employer.inn", "oms_policy"}
    assert (s.store.applications, s.egrul.asked) == ({}, [])


async def test_an_employer_the_register_knows_takes_its_name_and_address(s: Rig) -> None:
    address = {**ADDRESS, "house": "1"}
    s.egrul.answers[(INN, OGRN)] = Lookup.found(Organisation(INN, OGRN, "ООО «Лютик»", address))
    application = await drafted(s)
    assert application.employer.registry_checked
    assert (application.employer.name, application.employer.legal_address) == (
        "ООО «Лютик»",
        address,
    )


@pytest.mark.parametrize(
    ("lookup", "refusal"),
    [
        (Lookup.mismatch(), ("employer.ogrn", "registry_mismatch")),
        (
            Lookup.liquidated(Organisation(INN, OGRN, "ООО «Было»", ADDRESS, active=False)),
            ("employer.inn", "liquidated"),
        ),
    ],
)
async def test_an_employer_the_register_refuses_gets_no_draft(
    s: Rig, lookup: Lookup, refusal: tuple[str, str]
) -> None:
    s.egrul.answers[(INN, OGRN)] = lookup
    with pytest.raises(InvalidFieldsError) as caught:
        await drafted(s)
    assert wrong(caught) == [refusal]
    assert (s.store.applications, s.store.events) == ({}, [])


async def test_the_applicant_edits_a_draft_and_the_history_says_what(s: Rig) -> None:
    application = await drafted(s)
    s.clock.advance(hours=1)
    edited = await s.applications.edit(
        CITIZEN, application.id, draft(employer=None, oms_policy="7700000000000016")
    )
    assert (edited.oms_policy, edited.version, edited.last_changed_at) == (
        "7700000000000016",
        2,
        s.clock(),
    )
    assert edited.history[-1].comment == (
        "Изменены данные: Согласие на обработку персональных данных, Полис ОМС"
    )
    assert s.store.events_of(application.id) == ["ApplicationDrafted"]  # an edit raises none


async def test_only_the_applicant_edits_and_only_a_draft(s: Rig) -> None:
    application = await drafted(s)
    with pytest.raises(Problem) as someone_else:
        await s.applications.edit(STRANGER, application.id, draft())
    assert someone_else.value.status == 404
    await attach(s, application, "passport")
    await attach(s, application, "oms_policy")
    await s.applications.submit(CITIZEN, application.id)
    before = s.store.snapshot()
    with pytest.raises(Problem) as caught:
        await s.applications.edit(CITIZEN, application.id, draft())
    assert state(caught) == (409, "submitted")
    assert s.store.snapshot() == before


# --- documents --------------------------------------------------------------------------------


async def test_an_own_document_is_attached_and_its_status_remembered(s: Rig) -> None:
    application = await drafted(s)
    s.clock.advance(minutes=5)
    document_id = s.upstream.upload(CITIZEN, "passport")
    after = await s.applications.attach(
        CITIZEN, bearer(CITIZEN), application.id, document_id, "passport"
    )
    assert after.documents == {"passport": Attachment(document_id, s.clock())}
    assert after.history[-1].comment == "Прикреплён документ: Скан паспорта"
    assert s.store.statuses[document_id] == ("pending_review", "citizen-1", s.clock())
    assert s.store.events_of(application.id) == ["ApplicationDrafted"]


@pytest.mark.parametrize(
    ("owner", "uploaded_as", "status", "refusal"),
    [
        ("citizen-2", "passport", "pending_review", ("document_id", "not_found")),
        ("citizen-1", "oms_policy", "pending_review", ("kind", "kind_mismatch")),
        ("citizen-1", "passport", "rejected", ("document_id", "rejected")),
    ],
)
async def test_a_document_that_does_not_fit_is_not_attached(
    s: Rig, owner: str, uploaded_as: str, status: str, refusal: tuple[str, str]
) -> None:
    application = await drafted(s)
    document_id = s.upstream.upload(person(owner), uploaded_as, status)
    before = s.store.snapshot()
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.attach(
            CITIZEN, bearer(CITIZEN), application.id, document_id, "passport"
        )
    assert wrong(caught) == [refusal]
    assert s.store.snapshot() == before


async def test_a_kind_that_is_never_attached_is_refused_before_documents_is_asked(s: Rig) -> None:
    application = await drafted(s)
    document_id = s.upstream.upload(CITIZEN, "benefit")
    asked = len(s.upstream.asked)
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.attach(
            CITIZEN, bearer(CITIZEN), application.id, document_id, "benefit"
        )
    assert wrong(caught) == [("kind", "choice")]
    assert len(s.upstream.asked) == asked


async def test_nothing_is_attached_to_a_submitted_application_and_nobody_is_asked(
    s: Rig,
) -> None:
    application = await submitted(s)
    asked, before = len(s.upstream.asked), s.store.snapshot()
    with pytest.raises(Problem) as caught:
        await attach(s, application, "medical_certificate")
    assert state(caught) == (409, "submitted")
    assert (len(s.upstream.asked), s.store.snapshot()) == (asked, before)


async def test_with_documents_away_nothing_is_attached(s: Rig) -> None:
    application = await drafted(s)
    s.upstream.down = "documents"
    before = s.store.snapshot()
    with pytest.raises(Problem) as caught:
        await attach(s, application, "passport")
    assert caught.value.status == 503
    assert caught.value.detail == (
        "Сервис документов временно недоступен, изменения не сохранены. Попробуйте позже."
    )
    assert s.store.snapshot() == before


async def test_the_documents_service_word_never_goes_back_to_pending(s: Rig) -> None:
    application = await complete(s)
    await review(s, application, "verified")
    await review(s, application, "pending_review")  # a late upload event
    assert await s.applications.document_statuses(application) == {
        d.document_id: "verified" for d in application.documents.values()
    }


# --- submission -------------------------------------------------------------------------------


async def test_a_complete_draft_is_submitted_with_a_number_and_a_deadline(s: Rig) -> None:
    application = await complete(s)
    after = await s.applications.submit(CITIZEN, application.id)
    assert (after.status, after.number) == (Status.SUBMITTED, "2026-000001")
    assert (after.submitted_at, after.submitted_on, after.due_date) == (
        START,
        date(2026, 3, 2),
        date(2026, 3, 10),
    )
    assert set(after.lanes) == {"status:submitted", "open", "ontime", "ontime:submitted"}
    submitted_event, changed = s.store.events[-2:]
    assert isinstance(submitted_event, catalog.ApplicationSubmitted)
    assert (submitted_event.number, submitted_event.due_date) == ("2026-000001", date(2026, 3, 10))
    assert isinstance(changed, catalog.ApplicationStatusChangedV2)
    assert (changed.previous_status, changed.status, changed.status_label) == (
        "draft",
        "submitted",
        "Принято",
    )
    second = await submitted(s, STRANGER)
    assert second.number == "2026-000002"


async def test_an_incomplete_draft_is_not_submitted_and_takes_no_number(s: Rig) -> None:
    application = await drafted(s, employer=employer(position=None), consent_personal_data=False)
    await attach(s, application, "passport")
    before = s.store.snapshot()
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.submit(CITIZEN, application.id)
    assert caught.value.detail == "Заявление заполнено не полностью."
    assert set(wrong(caught)) == {
        ("employer.position", "missing"),
        ("consent_personal_data", "missing"),
        ("documents.oms_policy", "missing"),
    }
    assert s.store.snapshot() == before
    assert s.store.numbers == {}


async def test_a_document_rejected_since_it_was_attached_stops_submission(s: Rig) -> None:
    application = await complete(s)
    await review(s, application, "rejected")
    with pytest.raises(InvalidFieldsError) as caught:
        await s.applications.submit(CITIZEN, application.id)
    assert set(wrong(caught)) == {
        ("documents.passport", "rejected"),
        ("documents.oms_policy", "rejected"),
    }
    assert s.store.applications[application.id].status is Status.DRAFT


async def test_an_application_is_submitted_once_and_by_its_applicant(s: Rig) -> None:
    application = await submitted(s)
    before = s.store.snapshot()
    with pytest.raises(Problem) as again:
        await s.applications.submit(CITIZEN, application.id)
    assert state(again) == (409, "submitted")
    with pytest.raises(Problem) as stranger:
        await s.applications.submit(STRANGER, application.id)
    assert stranger.value.status == 404
    assert s.store.snapshot() == before
