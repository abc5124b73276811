"""Every service's audit journal anchors (``emk.audit``), kept by identity forever: one
document an anchor; a redelivered anchor is skipped by the inbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from emk_common import catalog
from emk_common.events import Envelope
from emk_common.inbox import Inbox
from identity.handlers.audit import HANDLER
from identity.store.anchors import COLLECTION, AuditAnchors

from .conftest import Identity

AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


async def test_an_anchor_is_kept_once_and_a_redelivery_is_skipped(
    identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = identity.app.state.runtime
    assert catalog.AUDIT in runtime.consumer.topics  # identity reads the anchors
    anchors = AuditAnchors(runtime.collection(COLLECTION))
    inbox = Inbox(runtime.mongo, runtime.db["inbox"])
    anchored = catalog.AuditAnchored(service="records", seq=42, hash="a" * 64, at=AT)
    envelope = Envelope.wrap(anchored, source="records", subject="records", at=AT)

    async def deliver(copy: Envelope) -> bool:
        data = catalog.AuditAnchored.model_validate(copy.data)
        applied: bool = await inbox.apply_once(
            HANDLER, copy.id, lambda session: anchors.keep(data, copy.id, session)
        )
        return applied

    assert await deliver(envelope) is True
    assert await deliver(envelope) is False  # the same event again: skipped
    # Another hash for a kept sequence number changes nothing, and the on-call hears of it.
    other = Envelope.wrap(
        catalog.AuditAnchored(service="records", seq=42, hash="b" * 64, at=AT),
        source="records",
        subject="records",
    )
    with caplog.at_level(logging.ERROR, logger="identity.store.anchors"):
        assert await deliver(other) is True
    assert any("records:42" in r.getMessage() for r in caplog.records)
    kept = await runtime.collection(COLLECTION).find({"service": "records"}).to_list()
    assert kept == [
        {
            "_id": "records:42",
            "service": "records",
            "seq": 42,
            "hash": "a" * 64,
            "at": AT,
            "event_id": envelope.id,
        }
    ]
