"""Revoked sessions, refused by every replica of every service within a second.

Access tokens are verified locally and live minutes, so without this a logged-out session's
token would keep working until it expired. Identity publishes
:class:`~emk_common.catalog.SessionRevoked` on ``emk.identity.sessions`` (through its outbox)
whenever a session ends early: a logout, a reused refresh token, a deactivated account.

* :class:`RevokedSessions`: the revoked session ids in memory, each until every access token
  of its session has expired (the event says when). Expired ones are dropped as new ones come
  and on every poll of the reader, so memory holds at most one token lifetime of revocations;
  a lookup is one dictionary lookup.
* :class:`RevocationReader`: feeds it. Every replica must see every revocation, so each one
  reads the whole topic itself: every partition assigned, no consumer group (a group would
  hand each record to one replica only), no committed offsets. On start it seeks to the
  records of the last token lifetime (``offsets_for_times``), so a replica started after a
  logout still refuses that session.

:func:`emk_common.service.create_app` runs the reader as a supervised background task of every
service and hands the set to the app's :class:`~emk_common.auth.AccessTokenVerifier`. While
Kafka is away, or a replica has just started and not read up to the end yet, it refuses only
what it has read: tokens stay bounded by their own expiry meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from emk_common.catalog import SessionRevoked
from emk_common.clock import Clock, utc_now
from emk_common.events import Envelope
from emk_common.kafka import client_options
from emk_common.loops import CallCancelledError, bounded
from emk_common.settings import ServiceSettings

log = logging.getLogger(__name__)

# Read this much further back than a token lives on start: the clocks of identity, the broker
# and this replica differ a little, and a token is accepted a few seconds past its expiry.
_LOOKBACK_MARGIN_SECONDS = 60.0
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 5.0
# How long one poll waits for records when none are there (the reader is woken by a record
# as soon as the fetch returns one).
_POLL_MS = 1000
# A broker that answers a fetch only when its wait ends (Tansu; the local stack sets 10 ms)
# would be asked a hundred times a second by every replica: a revocation may wait this long.
_MIN_FETCH_WAIT_MS = 100


class RevokedSessions:
    """Session ids whose tokens are refused, each until ``until`` (by ``clock``)."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._until: dict[str, datetime] = {}
        # (until, session id), soonest first: what to forget next. A session revoked again
        # with a later bound has a second entry; the earlier one is skipped when it comes up.
        self._expiries: list[tuple[datetime, str]] = []

    def revoke(self, session_id: str, until: datetime) -> None:
        self.forget_expired()
        if until <= self._clock():
            return  # every token of the session has expired already
        known = self._until.get(session_id)
        if known is None or until > known:
            self._until[session_id] = until
            heapq.heappush(self._expiries, (until, session_id))

    def is_revoked(self, session_id: str | None) -> bool:
        if session_id is None:
            return False
        until = self._until.get(session_id)
        return until is not None and until > self._clock()

    def forget_expired(self) -> int:
        """Drop the sessions whose tokens have all expired; how many were dropped."""
        now = self._clock()
        forgotten = 0
        while self._expiries and self._expiries[0][0] <= now:
            until, session_id = heapq.heappop(self._expiries)
            if self._until.get(session_id) == until:
                del self._until[session_id]
                forgotten += 1
        return forgotten

    def __len__(self) -> int:
        return len(self._until)


class _TopicMissingError(Exception):
    """The topic is not there yet (identity creates it when it first connects)."""


class RevocationReader:
    """Reads every ``SessionRevoked`` into ``revoked``, on every replica; runs until cancelled,
    reconnecting with a backoff while Kafka is away."""

    def __init__(
        self,
        settings: ServiceSettings,
        revoked: RevokedSessions,
        *,
        topic: str = SessionRevoked.topic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = topic
        self.revoked = revoked
        self._settings = settings
        self._lookback = settings.access_token_ttl_seconds + _LOOKBACK_MARGIN_SECONDS
        # Not the service's clock: the broker stamps records with real time.
        self._wall_clock = wall_clock
        self.caught_up = False  # read up to the end the topic had when the reader started
        self.applied = 0  # revocations read (for tests and debugging)

    async def run(self) -> None:
        backoff = _FIRST_BACKOFF_SECONDS
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                partitions = self._partitions(consumer)
                consumer.assign(partitions)
                await self._seek(consumer, partitions)
                ends = await consumer.end_offsets(partitions)
                backoff = _FIRST_BACKOFF_SECONDS
                await self._follow(consumer, ends)
            except (KafkaError, OSError, _TopicMissingError) as exc:
                log.info(
                    "revoked sessions: %s not readable yet (%s); retrying in %.1f s",
                    self.topic,
                    type(exc).__name__,
                    backoff,
                )
            finally:
                with contextlib.suppress(Exception):
                    await bounded(consumer.stop(), 10.0)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    def _consumer(self) -> AIOKafkaConsumer:
        settings = self._settings
        return AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"emk-{settings.service_name}-revocations",
            group_id=None,  # every replica reads everything
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=max(settings.kafka_fetch_max_wait_ms, _MIN_FETCH_WAIT_MS),
            request_timeout_ms=10_000,
            **client_options(settings),  # TLS and SASL as the service's broker
        )

    def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        # Starting fetched the metadata of every topic; a topic made later is seen by the next
        # attempt's new consumer.
        found = consumer.partitions_for_topic(self.topic)
        if not found:
            raise _TopicMissingError(self.topic)
        return [TopicPartition(self.topic, p) for p in sorted(found)]

    async def _seek(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        """To the first record of the last token lifetime on each partition. Where the
        broker knows no record that recent, or cannot say, from the beginning: the topic keeps
        an hour, and what has expired is skipped as it is read. (Not to the end: a revocation
        published between asking and seeking would be skipped.)"""
        since = int((self._wall_clock() - self._lookback) * 1000)
        try:
            found: dict[TopicPartition, Any] = await bounded(
                consumer.offsets_for_times(dict.fromkeys(partitions, since)), 15.0
            )
        except (KafkaError, TimeoutError, CallCancelledError) as exc:
            log.info("revoked sessions: no offsets by time (%s); reading all", type(exc).__name__)
            found = {}
        for partition in partitions:
            at = found.get(partition)
            if at is None:
                await consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, at.offset)

    async def _follow(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        behind = dict(ends)
        while True:
            batches = await consumer.getmany(timeout_ms=_POLL_MS, max_records=500)
            for records in batches.values():
                for record in records:
                    self._apply(record)
            self.revoked.forget_expired()
            if behind:
                for partition, end in list(behind.items()):
                    if await consumer.position(partition) >= end:
                        del behind[partition]
                self.caught_up = not behind

    def _apply(self, record: Any) -> None:
        if record.value is None:
            return
        try:
            envelope = Envelope.from_bytes(record.value)
            if envelope.type != SessionRevoked.event_type():
                return  # another version, or not ours to read: ignored, as consumers do
            data = SessionRevoked.model_validate(envelope.data)
        except ValidationError:
            log.warning(
                "revoked sessions: unreadable record at %s[%d]@%d skipped",
                record.topic,
                record.partition,
                record.offset,
            )
            return
        self.revoked.revoke(data.session_id, data.refuse_until)
        self.applied += 1
