"""How many members a service's replica adds to its consumer group: one for its topics, and one
more only for a topic of commands someone waits for (a login code must not queue behind an
event whose handler waits out a peer's outage)."""

from __future__ import annotations

from typing import Any, ClassVar

from faststream.kafka import KafkaBroker

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.inbox import Inbox
from emk_common.kafka import EventConsumer
from emk_common.settings import ServiceSettings


class _Settings(ServiceSettings):
    service_name: ClassVar[str] = "members"


def _subscribed(*events: type[Any]) -> list[set[str]]:
    consumer = EventConsumer(_Settings(), Inbox(None, None))  # type: ignore[arg-type]

    async def handle(data: Any, envelope: Envelope, session: Any) -> None:
        return None

    for event in events:
        consumer.on(event, name=f"h.{event.__name__}")(handle)
    broker = KafkaBroker("127.0.0.1:9")
    consumer.subscribe(broker)
    return sorted(
        ({getattr(t, "name", t) for t in getattr(s, "topics", ())} for s in broker.subscribers),
        key=sorted,
    )


def test_every_topic_of_a_service_is_read_by_one_member() -> None:
    events = (catalog.ApplicationSubmitted, catalog.DocumentUploaded, catalog.SessionRevoked)
    assert _subscribed(*events) == [
        {catalog.APPLICATIONS, catalog.DOCUMENTS, catalog.IDENTITY_SESSIONS}
    ]


def test_the_login_codes_have_a_member_of_their_own() -> None:
    assert _subscribed(catalog.DeliverOtp, catalog.ApplicationSubmitted) == [
        {catalog.APPLICATIONS},
        {catalog.NOTIFICATION_COMMANDS},
    ]
