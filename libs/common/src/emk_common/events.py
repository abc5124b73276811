"""The event envelope (CloudEvents 1.0, structured JSON mode) and the typed payload base.

Every event on every topic is an :class:`Envelope` whose ``data`` is one :class:`EventData`
subclass from :mod:`emk_common.catalog`. The envelope's ``id`` is the idempotency key
consumers record in their inbox; its ``subject`` (the aggregate id) is the Kafka key, so
one aggregate's events stay in order on one partition.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

from opentelemetry import propagate
from pydantic import BaseModel, ConfigDict, Field

EVENT_CONTENT_TYPE = "application/cloudevents+json"


class EventData(BaseModel):
    """Base of every event payload: small, immutable, ids/statuses/dates only.

    Unknown fields are ignored so that adding a field is not a breaking change; a
    breaking change gets a new class with the next ``version``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return f"{cls.topic}.{cls.name}.v{cls.version}"


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes around one payload."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    specversion: Literal["1.0"] = "1.0"
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = None
    tracestate: str | None = None
    data: dict[str, Any]

    @property
    def topic(self) -> str:
        """The topic is the type's prefix: ``emk.identity.UserRegistered.v1`` → ``emk.identity``."""
        return self.type.rsplit(".", 2)[0]

    @classmethod
    def wrap(
        cls,
        data: EventData,
        *,
        source: str,
        subject: str,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> Self:
        """Wrap a payload, capturing the current trace context so the relay can re-attach it.

        ``at`` is the event's time by the service's clock (the change it reports happened
        then). ``event_id`` is for a payload that must know its own envelope's id (a sealed
        box binds it as associated data); otherwise a fresh uuid4 is used.
        """
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=data.event_type(),
            source=source,
            subject=subject,
            time=at or datetime.now(UTC),
            traceparent=carrier.get("traceparent"),
            tracestate=carrier.get("tracestate"),
            data=data.model_dump(mode="json"),
        )

    def trace_carrier(self) -> dict[str, str]:
        carrier = {}
        if self.traceparent:
            carrier["traceparent"] = self.traceparent
        if self.tracestate:
            carrier["tracestate"] = self.tracestate
        return carrier

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cls.model_validate_json(raw)


E = TypeVar("E", bound=EventData)


def parse_data(envelope: Envelope, cls: type[E]) -> E:
    return cls.model_validate(envelope.data)
