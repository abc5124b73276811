"""The access feed: a service's sealed audit journal entries about *someone else's* access to
a person's data, published on ``emk.access`` (``AccessRecorded``) for that person's "who saw my
data" in identity — and the internal endpoint identity asks for the reasons.

Only what the sealer has chained is published, in ``seq`` order, by one replica at a time (a
lease, as the sealer's). A small state document holds the last ``seq`` handled; it advances
only after the broker acknowledged every record up to it, so a crash publishes a few again
(at least once: identity keeps an access once, by its ``entry_id`` ``<service>:<seq>``). The
feed stops at a gap in the sequence (a batch claimed by the sealer whose seals are still being
written) and goes on from there the next round.

An entry is published when it is ``listed`` (the owner reads it) and its actor is not its
owner. The event carries ids and codes — never the free-text reason, which stays here and is
given to identity alone (``GET /internal/v1/access-log/reasons``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common import catalog
from emk_common.events import EVENT_CONTENT_TYPE, Envelope
from emk_common.journal import ACCESS_LOG, SEAL_SECONDS
from emk_common.kafka import BrokerPublisher
from emk_common.leases import LeasedWork, ShardLeases
from emk_common.outbox import Publisher
from emk_common.problems import problem_responses
from emk_common.service_auth import ServiceTokenVerifier, require_service

if TYPE_CHECKING:
    from emk_common.service import Runtime

log = logging.getLogger(__name__)

Doc = dict[str, Any]

STATE = "access_feed"  # the feed's one state document: the last seq handled
CURSOR_ID = "cursor"
BATCH_SIZE = 500
# Only identity shows an owner the reasons of the accesses to their data.
REASON_READER = "identity"
# Ids one call may ask about: a page of "who saw my data" at most.
MAX_REASON_IDS = 200


def entry_id(service: str, seq: int, oid: object) -> str:
    """``<service>:<seq>:<the entry's _id>``: the seq finds the entry, the _id makes the id the
    entry's alone (another deployment's journal, or this one restored and restarted, counts
    the same seqs again)."""
    return f"{service}:{seq}:{oid}"


def access_event(service: str, entry: Mapping[str, Any]) -> catalog.AccessRecorded | None:
    """The event of a sealed entry, or None when its owner is not told of it (an entry not
    listed, one without an owner, or the owner's own access)."""
    owner, actor = entry.get("owner_id"), entry.get("actor_id")
    if entry.get("listed") is False or not owner or not actor or owner == actor:
        return None
    resource = str(entry.get("resource") or "")
    subject = entry.get(f"{resource}_id") if resource else None
    try:
        return _event(service, entry, resource, subject)
    except ValidationError:
        # Not a code (an action someone typed, say): never on the topic; the feed goes on.
        log.error("access feed: entry seq %s of %s is not made of codes; not published",
                  entry.get("seq"), service)  # fmt: skip
        return None


def _event(
    service: str, entry: Mapping[str, Any], resource: str, subject: Any
) -> catalog.AccessRecorded:
    return catalog.AccessRecorded(
        entry_id=entry_id(service, int(entry["seq"]), entry["_id"]),
        service=service,
        owner_id=str(entry["owner_id"]),
        actor_id=str(entry["actor_id"]),
        actor_role=str(entry.get("actor_role") or "unknown"),
        organization_id=entry.get("organization_id"),
        resource=resource or "unknown",
        subject_id=None if subject is None else str(subject),
        action=str(entry["action"]),
        at=entry["at"],
        has_reason=bool(entry.get("reason")),
    )


class AccessFeed:
    """Publishes the sealed entries past the cursor; :meth:`publish_once` is one batch."""

    def __init__(
        self,
        journal: AsyncCollection[Doc],
        state: AsyncCollection[Doc],
        publisher: Publisher,
        *,
        service: str,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._journal = journal
        self._state = state
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self.published = 0  # events the broker acknowledged (for tests and debugging)

    async def cursor(self) -> int:
        doc = await self._state.find_one({"_id": CURSOR_ID})
        return int(doc["seq"]) if doc is not None else 0

    async def publish_once(self) -> int:
        """Handle one batch in ``seq`` order; how many entries the cursor moved past (0 when
        the broker is away, nothing new is sealed, or the next entry's seal is not written
        yet). A failed publish leaves the cursor after the last acknowledged one, and
        raises."""
        if not self._publisher.ready:
            return 0
        start = await self.cursor()
        entries = (
            await self._journal.find({"seq": {"$gt": start}})
            .sort("seq", ASCENDING)
            .to_list(self._batch_size)
        )
        contiguous: list[tuple[int, catalog.AccessRecorded | None]] = []
        for entry in entries:
            if entry["seq"] != start + len(contiguous) + 1:
                break  # a gap: the sealer is still writing that seal
            contiguous.append((int(entry["seq"]), access_event(self._service, entry)))
        # Side by side, as the outbox relay publishes: one broker round trip a batch, not an
        # entry (a listing journals an entry per row it shows).
        outcomes = iter(
            await asyncio.gather(
                *(self._publish(event) for _, event in contiguous if event is not None),
                return_exceptions=True,
            )
        )
        done, failure = start, None
        for seq, event in contiguous:
            outcome = next(outcomes) if event is not None else None
            if isinstance(outcome, BaseException):
                failure = outcome
                break
            done = seq
        if done != start:
            await self._advance(start, done)
        if failure is not None:
            raise failure  # what follows it goes again next round (identity keeps it once)
        return done - start

    async def _publish(self, event: catalog.AccessRecorded) -> None:
        # The envelope's id is the entry's: a copy published again is skipped by the inbox.
        envelope = Envelope.wrap(
            event, source=self._service, subject=event.owner_id, at=event.at,
            event_id=event.entry_id,
        )  # fmt: skip
        headers = {
            "content-type": EVENT_CONTENT_TYPE,
            "ce_id": envelope.id,
            "ce_type": envelope.type,
        }
        await self._publisher.publish(catalog.ACCESS, event.owner_id, envelope.to_bytes(), headers)
        self.published += 1

    async def _advance(self, start: int, done: int) -> None:
        """Move the cursor from ``start`` to ``done`` — only from ``start``: a replica that
        lost the lease meanwhile moves nothing (what it published is published again)."""
        with contextlib.suppress(DuplicateKeyError):  # another replica made it first
            await self._state.update_one(
                {"_id": CURSOR_ID, "seq": start}, {"$set": {"seq": done}}, upsert=start == 0
            )


class AccessFeedLoop:
    """The feed of the replica holding its lease (one shard, as the journal's sealer)."""

    def __init__(
        self,
        feed: AccessFeed,
        leases: ShardLeases,
        *,
        poll_seconds: float = SEAL_SECONDS,
        batch_size: int = BATCH_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feed = feed
        self._batch_size = batch_size
        self._leased = LeasedWork(
            "access-feed", self._publish, leases, poll_seconds=poll_seconds, monotonic=monotonic
        )
        self.loop = self._leased.loop
        self.round = self._leased.round

    async def _publish(self) -> None:
        while await self.feed.publish_once() >= self._batch_size:
            pass

    async def run(self) -> None:
        await self._leased.run()


# --- the reasons, for identity ---------------------------------------------------------------


class AccessReason(BaseModel):
    id: str = Field(description="The entry's id, ``<service>:<seq>``.")
    reason: str | None = Field(description="The reason given for the access (free text).")


class AccessReasons(BaseModel):
    items: list[AccessReason]


def reasons_router(
    journal: AsyncCollection[Doc], service: str, verifier: ServiceTokenVerifier
) -> APIRouter:
    """``GET /internal/v1/access-log/reasons?owner=<person>&id=<service>:<seq>&id=…``: the
    free-text reasons of this service's entries about ``owner``, for identity alone (another
    caller: 403). Ids of other services or other people, unknown ids, entries the owner does
    not read and entries without a reason answer ``reason: null``: a sequence restarted after
    a restore can never show one person another's reason."""
    router = APIRouter(
        prefix="/internal/v1/access-log",
        tags=["internal"],
        dependencies=[Depends(require_service(verifier))],
        responses=problem_responses(401, 403),
    )

    @router.get("/reasons")
    async def access_reasons(
        owner: Annotated[
            str, Query(min_length=1, max_length=100, description="Whose accesses they are.")
        ],
        ids: Annotated[
            list[str],
            Query(alias="id", min_length=1, max_length=MAX_REASON_IDS, description="Entry ids."),
        ],
    ) -> AccessReasons:
        wanted = list(dict.fromkeys(ids))
        seqs = sorted(
            {
                int(parts[1])
                for parts in (i.split(":") for i in wanted)
                if len(parts) == 3 and parts[0] == service and parts[1].isdigit()
            }
        )
        found: dict[str, str | None] = {}
        if seqs:
            docs = await journal.find(
                {"seq": {"$in": seqs}, "owner_id": owner}, {"seq": 1, "reason": 1, "listed": 1}
            ).to_list()
            found = {
                entry_id(service, int(d["seq"]), d["_id"]): d.get("reason")
                for d in docs
                if d.get("listed") is not False
            }
        return AccessReasons(items=[AccessReason(id=i, reason=found.get(i)) for i in wanted])

    return router


def install_access_feed(runtime: Runtime) -> APIRouter:
    """The service's access feed (a background loop; ``emk.access`` is produced) and its
    reasons endpoint (the router returned, for the app)."""
    settings = runtime.settings
    if catalog.ACCESS not in runtime.produces:
        runtime.produces = (*runtime.produces, catalog.ACCESS)
    runtime.kafka.add_topics([catalog.ACCESS])
    runtime.broker.publisher(
        catalog.ACCESS,
        title=f"{catalog.ACCESS}:publish",
        description="Accesses to a person's data (ids and codes, never a reason), read by "
        "identity alone.",
        schema=Envelope,
    )
    journal = runtime.db[ACCESS_LOG]
    feed = AccessFeedLoop(
        AccessFeed(
            journal,
            runtime.db[STATE],
            BrokerPublisher(runtime.kafka),
            service=settings.service_name,
        ),
        LeasedWork.leases_of(runtime, "access_feed"),
    )
    runtime.background.append(feed.run)
    verifier = ServiceTokenVerifier(
        settings.service_name, settings.public_keyrings(), [REASON_READER]
    )
    return reasons_router(journal, settings.service_name, verifier)


__all__: Sequence[str] = (
    "AccessFeed",
    "AccessFeedLoop",
    "access_event",
    "install_access_feed",
    "reasons_router",
)
