"""A status change's comment: carried by a v1 event, read from applications for a v2 one
(issue #13: no free text on topics) — told alike either way, on fakes of the ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from emk_common.catalog import ApplicationStatusChanged, ApplicationStatusChangedV2
from emk_common.kafka import DeadLetter, RetryLater
from emk_testing import FakeClock
from notifications.adapters.sealed import Keyring
from notifications.dispatcher import Dispatcher
from notifications.domain.retry import RetryPolicy
from notifications.ports import ApplicationsRefusedError, ApplicationsUnavailableError, Contacts
from notifications.service import Notifications

from .fakes import START, Directory, FlakyMail, FlakySms, MemoryStore

PHONE, EMAIL = "+79990001122", "anna@example.ru"
COMMENT = "Скан паспорта нечитаем,\nзагрузите разворот с фотографией."
SEQ = 3
FACTS: dict[str, Any] = {
    "application_id": "a1", "applicant_id": "u1", "number": "2026-000123",
    "previous_status": "in_review", "status": "clarification_requested",
    "status_label": "Требуется уточнение", "documents": ["passport"],
    "document_labels": {"passport": "Скан паспорта"},
}  # fmt: skip


@dataclass
class Comments:
    """Applications' internal API as it would answer; ``outages`` calls fail first."""

    known: dict[tuple[str, int], str] = field(default_factory=dict)
    outages: int = 0
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def comment(self, application_id: str, seq: int) -> str:
        self.asked.append((application_id, seq))
        if self.outages > 0:
            self.outages -= 1
            raise ApplicationsUnavailableError("ConnectError")
        found = self.known.get((application_id, seq))
        if found is None:
            raise ApplicationsRefusedError("HTTP 404")
        return found


@dataclass
class Rig:
    comments: Comments = field(default_factory=lambda: Comments({("a1", SEQ): COMMENT}))
    store: MemoryStore = field(default_factory=MemoryStore)
    sms: FlakySms = field(default_factory=FlakySms)
    email: FlakyMail = field(default_factory=FlakyMail)

    def __post_init__(self) -> None:
        self.service = Notifications(
            self.store,
            directory=Directory({"u1": Contacts(PHONE, EMAIL, "Анна Игоревна")}),
            comments=self.comments,
            sms=self.sms,
            email=self.email,
            codes=Keyring({}),
            policy=RetryPolicy(3, timedelta(seconds=30), timedelta(minutes=10)),
            otp_policy=RetryPolicy(3, timedelta(seconds=2), timedelta(seconds=30)),
            owner="replica-a",
            lease=timedelta(seconds=60),
            clock=FakeClock(START),
            deliveries_staged=lambda: None,
        )
        self.dispatcher = Dispatcher(self.service, poll_seconds=3600, concurrency=4)

    async def told(
        self, event: ApplicationStatusChanged | ApplicationStatusChangedV2
    ) -> tuple[str, str, list[object], str]:
        """What the person sees in-app, the messages staged, and the letter they get."""
        await self.service.status_changed(event, "e1", None)
        [shown] = self.store.notifications.values()
        staged: list[object] = [d.delivery.message for d in self.store.deliveries.values()]
        assert await self.dispatcher.drain() == 2
        [(_, _, body)] = self.email.sent
        return shown.title, shown.text, staged, body


def v1(comment: str | None = COMMENT) -> ApplicationStatusChanged:
    return ApplicationStatusChanged(**FACTS, comment=comment)


def v2(*, has_comment: bool = True) -> ApplicationStatusChangedV2:
    return ApplicationStatusChangedV2(**FACTS, seq=SEQ, has_comment=has_comment)


async def test_a_v2_status_change_is_told_exactly_as_a_v1_with_its_comment() -> None:
    old, new = Rig(), Rig()
    told_v1 = await old.told(v1())
    told_v2 = await new.told(v2())
    assert told_v2 == told_v1
    title, text, staged, body = told_v2
    assert title == "Заявление № 2026-000123: Требуется уточнение"
    assert "Скан паспорта нечитаем" in text
    assert f"Комментарий специалиста:\n{COMMENT}" in body
    # The comment is kept with the staged e-mail and SMS as before (the SMS never shows it).
    assert {getattr(m, "comment", None) for m in staged} == {COMMENT}
    assert COMMENT not in new.sms.sent[0][1]
    assert (old.comments.asked, new.comments.asked) == ([], [("a1", SEQ)])


async def test_a_v2_change_without_a_comment_asks_nobody() -> None:
    without, plain = Rig(), Rig()
    assert await without.told(v2(has_comment=False)) == await plain.told(v1(comment=None))
    assert without.comments.asked == []
    assert "Комментарий" not in without.email.sent[0][2]


async def test_while_applications_is_away_the_event_waits_and_is_told_after() -> None:
    rig = Rig(Comments({("a1", SEQ): COMMENT}, outages=1))
    with pytest.raises(RetryLater):
        await rig.service.status_changed(v2(), "e1", None)
    # Nothing was told: the consumer retries the event (never dead-lettered for an outage).
    assert (rig.store.notifications, rig.store.deliveries) == ({}, {})
    _, text, _, body = await rig.told(v2())
    assert "Скан паспорта нечитаем" in text
    assert f"Комментарий специалиста:\n{COMMENT}" in body


async def test_a_comment_applications_refuses_dead_letters_the_event() -> None:
    rig = Rig(Comments({}))
    with pytest.raises(DeadLetter) as refused:
        await rig.service.status_changed(v2(), "e1", None)
    assert "404" in str(refused.value)
    assert rig.store.notifications == {}
