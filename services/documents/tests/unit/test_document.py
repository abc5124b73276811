"""The document's decisions and who may see it: pure, no ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from documents.domain import access
from documents.domain import document as domain
from documents.domain.document import AlreadyDecidedError, Document, Scan
from documents.service import READING
from emk_common import catalog
from emk_common.auth import Principal, Role
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SCAN = Scan(100, "application/pdf", "ab" * 32, "scan.pdf", 1, None, None)


def new() -> Document:
    document, _ = domain.upload("d1", "owner-1", "passport", SCAN, "key", NOW)
    return document


def test_an_upload_waits_for_review_and_says_so_without_its_content() -> None:
    document, event = domain.upload("d1", "owner-1", "oms_policy", SCAN, "key", NOW)
    assert (document.status, document.status_label, document.created_at) == (
        "pending_review",
        "На проверке",
        NOW,
    )
    assert event == catalog.DocumentUploaded(
        document_id="d1", owner_id="owner-1", kind="oms_policy", size=100,
        content_type="application/pdf", sha256="ab" * 32,
    )  # fmt: skip


def test_a_document_is_decided_once() -> None:
    later = NOW + timedelta(hours=2)
    rejected, event = domain.decide(new(), "operator-1", "rejected", "Скан нечитаем", later)
    assert (rejected.status, rejected.reason, rejected.decided_at) == (
        "rejected",
        "Скан нечитаем",
        later,
    )
    assert rejected.history[-1] == domain.HistoryEntry(
        "rejected", later, "operator-1", "Скан нечитаем"
    )
    # The reason stays with the document; the event only says there is one (issue #13).
    assert event == catalog.DocumentRejectedV2(
        document_id="d1", owner_id="owner-1", rejected_by="operator-1", has_reason=True
    )
    _, silent = domain.decide(new(), "operator-1", "rejected", "  ", later)
    assert isinstance(silent, catalog.DocumentRejectedV2)
    assert not silent.has_reason
    with pytest.raises(AlreadyDecidedError) as again:
        domain.decide(rejected, "operator-1", "verified", None, later)
    assert again.value.status == "rejected"


def test_only_a_document_waiting_over_the_review_time_is_overdue() -> None:
    document = new()
    assert not document.overdue(NOW + DAY, DAY)
    assert document.overdue(NOW + DAY + timedelta(microseconds=1), DAY)
    verified, _ = domain.decide(document, "operator-1", "verified", None, NOW)
    assert not verified.overdue(NOW + 2 * DAY, DAY)


@pytest.mark.parametrize(("kind", "code"), [("", "missing"), ("selfie", "choice")])
def test_the_kind_is_one_we_know(kind: str, code: str) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        domain.checked_kind(kind)
    assert [(e.field, e.code) for e in caught.value.errors] == [("kind", code)]
    assert domain.checked_kind("benefit") == "benefit"


@pytest.mark.parametrize(
    ("user_id", "role", "reason", "content", "refused"),
    [
        ("owner-1", "citizen", None, True, None),
        ("other", "citizen", None, False, 404),
        ("operator-1", "operator", "проверка", True, None),
        ("operator-1", "operator", None, False, 422),
        ("admin-1", "admin", None, False, None),
        ("admin-1", "admin", "аудит", True, 403),
        ("employer-1", "employer", "проверка", False, 404),
        ("worker-1", "medical_worker", "проверка", False, 404),
    ],
)
def test_who_may_read_what(
    user_id: str, role: Role, reason: str | None, content: bool, refused: int | None
) -> None:
    who = Principal(user_id, role, None, None, "jti")

    def read() -> None:
        allowed = READING.check(who, reason=reason, content=content)
        READING.require_owner(allowed, who, new().owner_id)

    if refused is None:
        read()
    else:
        with pytest.raises(Problem) as caught:
            read()
        assert caught.value.status == refused


def test_lists_are_for_owners_and_staff_and_decisions_for_operators() -> None:
    assert access.listed_owner(user_id="owner-1", role="citizen") == "owner-1"
    assert access.listed_owner(user_id="admin-1", role="admin") is None
    with pytest.raises(access.ListForbiddenError):
        access.listed_owner(user_id="e", role="employer")
    access.check_reviewer("operator")
    with pytest.raises(access.NotReviewerError):
        access.check_reviewer("admin")
