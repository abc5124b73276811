"""The tamper-evident audit journal: every service's ``access_log``, hash-chained in batches and
anchored outside the service.

Writing never waits on a chain head. A read's entry is one insert (``AccessLog.record``) made
before the answer leaves; a write's entry rides in the aggregate's own single-document write
(:func:`stage`, a ``_journal`` field, the way ``_outbox`` carries events), and the collector
moves it into the log. Entries arrive *unsealed* (``_unsealed``, a partial index).

One replica at a time (a lease, :mod:`emk_common.leases`) seals them: it takes a batch in a
stable order (``_id``) and gives each entry ``seq``, ``prev`` (the previous entry's hash) and
``hash`` = SHA-256(prev ‖ RFC 8785 canonical entry). The batch is claimed by advancing the head
document conditionally on the head it was computed from, so two sealers (a lease that lapsed
under a stall) can never fork the chain or seal an entry twice: the loser's write matches
nothing and it starts over. The head's write records the batch (so a sealer that stops halfway
is finished by the next round) and stages an ``AuditAnchored`` event through the outbox;
identity keeps every anchor forever. ``emk-audit verify`` recomputes the chain and holds it
against the anchors.

Entries hold ids, roles, codes and the service's own free-text reason, never a personal
value; the anchors hold only sequence numbers and hashes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import rfc8785
from bson import ObjectId
from opentelemetry import trace
from pymongo import ASCENDING, AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from emk_common import catalog
from emk_common.clock import Clock, utc_now
from emk_common.events import Envelope
from emk_common.leases import LeasedWork, ShardLeases
from emk_common.outbox import OUTBOX_FIELD, Outbox

if TYPE_CHECKING:
    from emk_common.service import Runtime

log = logging.getLogger(__name__)

Doc = dict[str, Any]

ACCESS_LOG = "access_log"  # the journal: each service's own collection
HEADS = "journal_head"  # the chain's head (an outbox collection: it carries the anchors)
HEAD_ID = "head"
JOURNAL_FIELD = "_journal"  # a write's entries, staged in the aggregate's document
JOURNAL_PENDING = "_journal_pending"  # set while the document holds staged entries
UNSEALED = "_unsealed"
SEAL_FIELDS = frozenset({"seq", "prev", "hash", UNSEALED})
GENESIS = "0" * 64  # the ``prev`` of the first entry
BATCH_SIZE = 500
# How often a replica seals: each batch is one anchor, kept forever, so not more often.
SEAL_SECONDS = 1.0
# While the broker is away, only the newest anchors wait in the head's outbox: each one
# covers every entry before it, and the head's document must stay small.
PENDING_ANCHORS = 100


def trace_id() -> str | None:
    """The current OpenTelemetry trace's id (32 hex digits), if a span is recording one."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def new_entry(fields: Mapping[str, Any]) -> Doc:
    """An entry as the journal keeps it: its own id (a staged entry is moved exactly once by
    it), the trace it was made in, unsealed."""
    return {"_id": ObjectId(), **fields, "trace_id": trace_id(), UNSEALED: True}


# --- hashing -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A stored value as canonical JSON can hold it, exactly as it reads back from MongoDB
    (which keeps milliseconds: an instant is hashed to the millisecond)."""
    if isinstance(value, datetime):
        at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)  # an ObjectId, say


def canonical(entry: Mapping[str, Any]) -> bytes:
    """RFC 8785 JSON of an entry without its seal (every other field counts, its id too)."""
    return rfc8785.dumps(_plain({k: v for k, v in entry.items() if k not in SEAL_FIELDS}))


def chain_hash(prev: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + canonical(entry)).hexdigest()


# --- staging a write's entries ---------------------------------------------------------------


def stage(update: Doc, entries: Sequence[Doc]) -> Doc:
    """The update operators for the aggregate's write, plus its journal entries."""
    if not entries:
        return update
    staged = dict(update)
    staged["$push"] = {**update.get("$push", {}), JOURNAL_FIELD: {"$each": list(entries)}}
    staged["$set"] = {**update.get("$set", {}), JOURNAL_PENDING: True}
    return staged


def stage_insert(document: Doc, entries: Sequence[Doc]) -> Doc:
    """The document to insert, with its journal entries."""
    if not entries:
        return document
    return {**document, JOURNAL_FIELD: list(entries), JOURNAL_PENDING: True}


class JournalCollector:
    """Moves staged entries into the journal: inserted by their own ids (a second move after
    a crash finds them there), then pulled out of the aggregate's document."""

    def __init__(
        self, collections: Sequence[AsyncCollection[Doc]], journal: AsyncCollection[Doc]
    ) -> None:
        self._collections = list(collections)
        self._journal = journal

    async def ensure_indexes(self) -> None:
        for collection in self._collections:
            await collection.create_index(
                [(JOURNAL_PENDING, ASCENDING)],
                name="journal_pending",
                partialFilterExpression={JOURNAL_PENDING: True},
            )

    async def collect_once(self, batch_size: int = BATCH_SIZE) -> int:
        moved = 0
        for collection in self._collections:
            docs = await collection.find({JOURNAL_PENDING: True}, {JOURNAL_FIELD: 1}).to_list(
                batch_size
            )
            entries = [e for d in docs for e in d.get(JOURNAL_FIELD) or []]
            if entries:
                try:
                    await self._journal.insert_many(entries, ordered=False)
                except BulkWriteError as exc:
                    if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                        raise
            operations: list[UpdateOne] = []
            for doc in docs:
                ids = [e["_id"] for e in doc.get(JOURNAL_FIELD) or []]
                operations.append(
                    UpdateOne(
                        {"_id": doc["_id"]}, {"$pull": {JOURNAL_FIELD: {"_id": {"$in": ids}}}}
                    )
                )
                # Cleared only if nothing was staged meanwhile (as the outbox's mark is).
                operations.append(
                    UpdateOne(
                        {"_id": doc["_id"], JOURNAL_FIELD: {"$size": 0}},
                        {"$unset": {JOURNAL_FIELD: "", JOURNAL_PENDING: ""}},
                    )
                )
            if operations:
                await collection.bulk_write(operations, ordered=True)
            moved += len(entries)
        return moved


# --- sealing ---------------------------------------------------------------------------------


class JournalSealer:
    def __init__(
        self,
        journal: AsyncCollection[Doc],
        heads: AsyncCollection[Doc],
        outbox: Outbox,
        *,
        service: str,
        clock: Clock = utc_now,
        batch_size: int = BATCH_SIZE,
        sealed: Callable[[], None] = lambda: None,
    ) -> None:
        self._journal = journal
        self._heads = heads
        self._outbox = outbox
        self._service = service
        self._clock = clock
        self._batch_size = batch_size
        self._sealed = sealed  # told after each head written (the relay is woken)

    async def prepare(self) -> None:
        await self._journal.create_index(
            [(UNSEALED, ASCENDING), ("_id", ASCENDING)],
            name="unsealed",
            partialFilterExpression={UNSEALED: True},
        )
        await self._journal.create_index(
            "seq", unique=True, name="seq", partialFilterExpression={"seq": {"$type": "number"}}
        )
        head = await self._head()
        if not head.get("adopted"):
            # Entries written before the journal sealed anything join it (once).
            await self._journal.update_many(
                {"seq": {"$exists": False}, UNSEALED: {"$exists": False}},
                {"$set": {UNSEALED: True}},
            )
            await self._heads.update_one({"_id": HEAD_ID}, {"$set": {"adopted": True}})

    async def _head(self) -> Doc:
        head = await self._heads.find_one({"_id": HEAD_ID}, {OUTBOX_FIELD: 0})
        if head is None:
            with contextlib.suppress(DuplicateKeyError):  # another replica made it
                await self._heads.insert_one({"_id": HEAD_ID, "seq": 0, "hash": GENESIS})
            head = await self._heads.find_one({"_id": HEAD_ID}, {OUTBOX_FIELD: 0})
            assert head is not None
        return head

    async def seal_once(self) -> int:
        """Seal one batch; how many entries it sealed (0 when none waited, or another sealer
        advanced the head first)."""
        head = await self._head()
        if head.get("batch"):
            await self._finish(head["seq"], head["batch"])
        entries = (
            await self._journal.find({UNSEALED: True})
            .sort("_id", ASCENDING)
            .to_list(self._batch_size)
        )
        if not entries:
            return 0
        seq, prev = int(head["seq"]), str(head["hash"])
        batch = []
        for entry in entries:
            seq += 1
            digest = chain_hash(prev, entry)
            batch.append({"id": entry["_id"], "seq": seq, "prev": prev, "hash": digest})
            prev = digest
        at = self._clock()
        anchored = catalog.AuditAnchored(service=self._service, seq=seq, hash=prev, at=at)
        event = Envelope.wrap(anchored, source=self._service, subject=self._service, at=at)
        update = self._outbox.update(
            HEAD_ID, {"$set": {"seq": seq, "hash": prev, "at": at, "batch": batch}}, [event]
        )
        update["$push"][OUTBOX_FIELD]["$slice"] = -PENDING_ANCHORS
        claimed = await self._heads.update_one({"_id": HEAD_ID, "seq": head["seq"]}, update)
        if claimed.matched_count != 1:
            return 0  # another sealer advanced the head: nothing of this batch was written
        self._sealed()
        await self._finish(seq, batch)
        return len(batch)

    async def _finish(self, head_seq: int, batch: Sequence[Mapping[str, Any]]) -> None:
        """Write a claimed batch's seals onto its entries (again, harmlessly, if another
        sealer is doing it too), then drop the batch from the head."""
        operations = [
            UpdateOne(
                {"_id": b["id"], UNSEALED: True},
                {
                    "$set": {"seq": b["seq"], "prev": b["prev"], "hash": b["hash"]},
                    "$unset": {UNSEALED: ""},
                },
            )
            for b in batch
        ]
        if operations:
            await self._journal.bulk_write(operations, ordered=False)
        await self._heads.update_one({"_id": HEAD_ID, "seq": head_seq}, {"$unset": {"batch": ""}})


class Journal:
    """A service's collector and sealer, run by the replica holding the journal's lease."""

    def __init__(
        self,
        collector: JournalCollector,
        sealer: JournalSealer,
        leases: ShardLeases,
        *,
        poll_seconds: float = SEAL_SECONDS,
        batch_size: int = BATCH_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collector = collector
        self.sealer = sealer
        self._batch_size = batch_size
        self._leased = LeasedWork(
            "audit-journal", self._seal, leases, poll_seconds=poll_seconds, monotonic=monotonic
        )
        self.loop = self._leased.loop
        self.round = self._leased.round

    async def prepare(self) -> None:
        await self.collector.ensure_indexes()
        await self.sealer.prepare()

    async def _seal(self) -> None:
        while await self.collector.collect_once(self._batch_size) >= self._batch_size:
            pass
        while await self.sealer.seal_once() >= self._batch_size:
            pass

    async def run(self) -> None:
        await self._leased.run()


def install_journal(runtime: Runtime) -> Journal:
    """The journal of a service: its head joins the outbox collections (the anchors ride its
    write), its loop the background work, its indexes the startup; ``emk.audit`` is produced."""
    settings = runtime.settings
    collections = [n for n in runtime.outbox_collections if n != HEADS]
    runtime.outbox_collections = (*collections, HEADS)
    if catalog.AUDIT not in runtime.produces:
        runtime.produces = (*runtime.produces, catalog.AUDIT)
    runtime.kafka.add_topics([catalog.AUDIT])
    runtime.broker.publisher(
        catalog.AUDIT,
        title=f"{catalog.AUDIT}:publish",
        description="Audit journal anchors (sequence numbers and hashes only), read by identity.",
        schema=Envelope,
    )
    journal = Journal(
        JournalCollector([runtime.db[n] for n in collections], runtime.db[ACCESS_LOG]),
        JournalSealer(
            runtime.db[ACCESS_LOG],
            runtime.db[HEADS],
            runtime.outbox,
            service=settings.service_name,
            clock=runtime.clock,
            sealed=runtime.wake_relay,
        ),
        LeasedWork.leases_of(runtime, "journal"),
    )
    runtime.startup.append(journal.prepare)
    runtime.background.append(journal.run)
    return journal


# --- verifying -------------------------------------------------------------------------------

Kind = Literal["changed", "removed", "reordered", "inserted"]


@dataclass(frozen=True)
class Finding:
    """The first place the journal differs from what was sealed."""

    kind: Kind
    seq: int
    entry_id: str | None
    detail: str

    def __str__(self) -> str:
        named = f"seq {self.seq}" + (f" (id {self.entry_id})" if self.entry_id else "")
        return f"{named} {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Verdict:
    entries: int  # sealed
    unsealed: int
    anchored: int | None  # the last anchor the chain was checked against
    finding: Finding | None

    def __str__(self) -> str:
        if self.finding is not None:
            return f"journal tampered: {self.finding}"
        up_to = f"anchor {self.anchored}" if self.anchored is not None else "no anchor yet"
        waiting = f"; {self.unsealed} not sealed yet" if self.unsealed else ""
        return f"{self.entries} entries, chain intact up to {up_to}{waiting}"


def check_chain(entries: Iterable[Doc], anchors: Mapping[int, str]) -> Verdict:
    """Recompute every sealed entry's hash in ``seq`` order and hold the chain against the
    anchors (seq → hash); the first difference is named."""
    every = list(entries)
    sealed = sorted(
        (e for e in every if isinstance(e.get("seq"), int)),
        key=lambda e: (e["seq"], str(e["_id"])),
    )
    unsealed = len(every) - len(sealed)

    def verdict(finding: Finding | None, anchored: int | None) -> Verdict:
        return Verdict(len(sealed), unsealed, anchored, finding)

    position = {e.get("hash"): i for i, e in reversed(list(enumerate(sealed)))}
    running, expected, anchored = GENESIS, 1, None
    # Every group before a finding holds one entry: a group's index is its entry's.
    for index, (seq, grouped) in enumerate(itertools.groupby(sealed, key=lambda e: e["seq"])):
        group = list(grouped)
        if seq != expected:
            return verdict(
                Finding("removed", expected, None,
                        f"entries up to seq {seq - 1} are missing (next: id {group[0]['_id']})"),
                anchored,
            )  # fmt: skip
        if len(group) > 1:
            fits = [e for e in group if e.get("prev") == running and _intact(e)][:1]
            extra = next(e for e in group if e not in fits)
            return verdict(
                Finding("inserted", seq, str(extra["_id"]), "a second entry with this seq"),
                anchored,
            )
        entry = group[0]
        if not _intact(entry):
            return verdict(
                Finding("changed", seq, str(entry["_id"]), "its content differs from its seal"),
                anchored,
            )
        if entry.get("prev") != running:
            found = position.get(entry.get("prev"))
            if found is not None and found < index:
                first = sealed[found + 1]
                finding = Finding(
                    "inserted", int(first["seq"]), str(first["_id"]),
                    f"seq {seq} chains to seq {sealed[found]['seq']}: what lies between was added",
                )  # fmt: skip
            elif found is not None:
                finding = Finding(
                    "reordered", seq, str(entry["_id"]),
                    f"it chains to seq {sealed[found]['seq']}, which comes after it",
                )  # fmt: skip
            else:
                before = sealed[index - 1] if index else None
                finding = Finding(
                    "changed", seq - 1, str(before["_id"]) if before else None,
                    f"seq {seq} chains to an entry that is no longer there: it was rewritten",
                )  # fmt: skip
            return verdict(finding, anchored)
        running = str(entry["hash"])
        expected = seq + 1
        if seq in anchors:
            if anchors[seq] != running:
                return verdict(
                    Finding("changed", seq, str(entry["_id"]),
                            f"the chain up to here differs from anchor {seq} kept by identity"),
                    anchored,
                )  # fmt: skip
            anchored = seq
    beyond = [s for s in anchors if s >= expected]
    if beyond:
        return verdict(
            Finding("removed", expected, None,
                    f"the journal ends at seq {expected - 1}; identity holds anchor {max(beyond)}"),
            anchored,
        )  # fmt: skip
    return verdict(None, anchored)


def _intact(entry: Mapping[str, Any]) -> bool:
    prev = entry.get("prev")
    return isinstance(prev, str) and chain_hash(prev, entry) == entry.get("hash")


async def verify(
    journal: AsyncCollection[Doc], anchors: AsyncCollection[Doc], service: str
) -> Verdict:
    entries = await journal.find({}).to_list()
    kept = await anchors.find({"service": service}, {"seq": 1, "hash": 1}).to_list()
    return check_chain(entries, {int(a["seq"]): str(a["hash"]) for a in kept})


def main(argv: Sequence[str] | None = None) -> int:
    """``emk-audit verify --service <name>``: exit 0 when the chain is intact, 1 naming the
    first changed, removed, reordered or inserted entry."""
    parser = argparse.ArgumentParser(prog="emk-audit", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute a service's journal chain")
    check.add_argument("--service", required=True, help="identity, records, …")
    check.add_argument("--database", help="the service's database (default: emk_<service>)")
    check.add_argument(
        "--anchors-uri", help="identity's MongoDB, where the anchors are (default: MONGODB_URI)"
    )
    check.add_argument(
        "--anchors-database", default="emk_identity", help="identity's database (emk_identity)"
    )
    args = parser.parse_args(argv)
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        print("emk-audit: set MONGODB_URI", file=sys.stderr)
        return 2

    async def run() -> Verdict:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, tz_aware=True)
        other: AsyncMongoClient[Doc] | None = None
        if args.anchors_uri:
            other = AsyncMongoClient(args.anchors_uri, tz_aware=True)
        try:
            database = client[args.database or f"emk_{args.service}"]
            anchors = (other or client)[args.anchors_database]["audit_anchors"]
            return await verify(database[ACCESS_LOG], anchors, args.service)
        finally:
            closing: list[Awaitable[None]] = [client.close()]
            if other is not None:
                closing.append(other.close())
            await asyncio.gather(*closing)

    verdict = asyncio.run(run())
    print(verdict)
    return 0 if verdict.finding is None else 1


if __name__ == "__main__":
    sys.exit(main())
