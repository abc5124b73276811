"""The access feed's cursor (in memory: a fake journal, state and broker): sealed entries about
someone else's access go out in ``seq`` order, ids and codes only; the cursor moves past what
the broker acknowledged and no further, stops at a gap, and never moves back. The reasons
endpoint answers identity alone."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from fastapi import FastAPI
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from emk_common import catalog
from emk_common.access_feed import CURSOR_ID, AccessFeed, access_event, reasons_router
from emk_common.problems import install_problem_handlers
from emk_common.service_auth import ServiceTokenIssuer, ServiceTokenVerifier, public_key_for

Doc = dict[str, Any]
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REASON = "Проверка по обращению № 17 гражданки Петровой"


class _Found:
    def __init__(self, docs: list[Doc]) -> None:
        self._docs = docs

    def sort(self, key: str, direction: int = 1) -> _Found:
        self._docs.sort(key=lambda d: d[key], reverse=direction < 0)
        return self

    async def to_list(self, length: int | None = None) -> list[Doc]:
        return [dict(d) for d in self._docs[:length]]


def _matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, wanted in query.items():
        value = doc.get(key)
        if isinstance(wanted, Mapping):
            if "$gt" in wanted and not (value is not None and value > wanted["$gt"]):
                return False
            if "$in" in wanted and value not in wanted["$in"]:
                return False
        elif value != wanted:
            return False
    return True


class FakeCollection:
    """What the feed and the reasons endpoint use of a collection."""

    def __init__(self, docs: list[Doc] | None = None) -> None:
        self.docs = docs or []

    def find(self, query: Mapping[str, Any], projection: Any = None) -> _Found:
        return _Found([d for d in self.docs if _matches(d, query)])

    async def find_one(self, query: Mapping[str, Any]) -> Doc | None:
        return next((dict(d) for d in self.docs if _matches(d, query)), None)

    async def update_one(self, query: Doc, update: Doc, upsert: bool = False) -> None:
        for doc in self.docs:
            if _matches(doc, query):
                doc.update(update["$set"])
                return
        if upsert:
            if any(d["_id"] == query["_id"] for d in self.docs):
                raise DuplicateKeyError("E11000")
            self.docs.append({**query, **update["$set"]})


class FakeBroker:
    def __init__(self, fail_at: int | None = None) -> None:
        self.ready = True
        self.records: list[tuple[str, str, bytes, dict[str, str]]] = []
        self._fail_at = fail_at  # the n-th publish (from 1) raises

    async def publish(self, topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        if self._fail_at is not None and len(self.records) + 1 == self._fail_at:
            self._fail_at = None
            raise ConnectionError("broker away")
        self.records.append((topic, key, body, headers))

    def entry_ids(self) -> list[str]:
        return [json.loads(body)["data"]["entry_id"] for _, _, body, _ in self.records]


def entry(seq: int, **overrides: Any) -> Doc:
    return {
        "_id": f"oid{seq}",
        "resource": "document",
        "document_id": f"doc-{seq}",
        "owner_id": "citizen-1",
        "actor_id": "operator-1",
        "actor_role": "operator",
        "organization_id": "org-1",
        "action": "read_content",
        "reason": REASON,
        "at": AT,
        "seq": seq,
        "prev": "0" * 64,
        "hash": "1" * 64,
        **overrides,
    }


def feed(journal: FakeCollection, state: FakeCollection, broker: FakeBroker) -> AccessFeed:
    return AccessFeed(
        cast(AsyncCollection[Doc], journal),
        cast(AsyncCollection[Doc], state),
        broker,
        service="documents",
        batch_size=10,
    )


async def test_others_accesses_go_out_in_order_with_ids_and_codes_only() -> None:
    journal = FakeCollection(
        [
            entry(3),
            entry(1),
            entry(2, actor_id="citizen-1", actor_role="citizen"),  # the owner's own read
            entry(4, listed=False),  # a change also logged as an access of its own
            entry(5, resource="book", book_id="book-1", reason=None, action="record.exam"),
        ]
    )
    state, broker = FakeCollection(), FakeBroker()
    moved = await feed(journal, state, broker).publish_once()
    assert moved == 5
    assert await feed(journal, state, broker).cursor() == 5
    assert broker.entry_ids() == ["documents:1:oid1", "documents:3:oid3", "documents:5:oid5"]
    topic, key, body, headers = broker.records[0]
    assert (topic, key) == (catalog.ACCESS, "citizen-1")
    assert headers["ce_id"] == "documents:1:oid1"  # the inbox dedupes a copy published again
    assert REASON.encode() not in body
    assert "Петров".encode() not in body
    data = json.loads(body)["data"]
    assert data == {
        "entry_id": "documents:1:oid1", "service": "documents", "owner_id": "citizen-1",
        "actor_id": "operator-1", "actor_role": "operator", "organization_id": "org-1",
        "resource": "document", "subject_id": "doc-1", "action": "read_content",
        "at": "2026-11-30T09:00:00Z", "has_reason": True,
    }  # fmt: skip
    last = json.loads(broker.records[-1][2])["data"]
    assert (last["subject_id"], last["has_reason"]) == ("book-1", False)
    assert await feed(journal, state, broker).publish_once() == 0  # nothing new


async def test_the_feed_stops_at_a_gap_and_goes_on_once_the_seal_is_written() -> None:
    journal = FakeCollection([entry(1), entry(2), entry(4)])
    state, broker = FakeCollection(), FakeBroker()
    assert await feed(journal, state, broker).publish_once() == 2
    assert broker.entry_ids() == ["documents:1:oid1", "documents:2:oid2"]
    journal.docs.append(entry(3))
    assert await feed(journal, state, broker).publish_once() == 2
    assert broker.entry_ids() == [f"documents:{n}:oid{n}" for n in (1, 2, 3, 4)]


async def test_a_failed_publish_keeps_the_cursor_after_the_last_acknowledged() -> None:
    journal = FakeCollection([entry(n) for n in (1, 2, 3)])
    state, broker = FakeCollection(), FakeBroker(fail_at=2)
    try:
        await feed(journal, state, broker).publish_once()
    except ConnectionError:
        pass
    else:
        raise AssertionError("the broker's failure must reach the loop (it backs off)")
    assert await feed(journal, state, broker).cursor() == 1
    assert await feed(journal, state, broker).publish_once() == 2
    # 3, published beside the failed 2, goes again with it: at least once (identity keeps
    # an entry once).
    assert broker.entry_ids() == [
        "documents:1:oid1", "documents:3:oid3", "documents:2:oid2", "documents:3:oid3"
    ]  # fmt: skip


async def test_nothing_moves_while_the_broker_is_away() -> None:
    journal, state, broker = FakeCollection([entry(1)]), FakeCollection(), FakeBroker()
    broker.ready = False
    assert await feed(journal, state, broker).publish_once() == 0
    assert broker.records == []
    assert state.docs == []


async def test_a_replica_that_lost_the_lease_does_not_move_the_cursor_back() -> None:
    journal = FakeCollection([entry(n) for n in (1, 2, 3)])
    state = FakeCollection([{"_id": CURSOR_ID, "seq": 1}])
    broker = FakeBroker()
    stale = feed(journal, state, broker)
    # Another replica moved the cursor to 3 while this one was publishing from 1.
    original = broker.publish

    async def meanwhile(topic: str, key: str, body: bytes, headers: dict[str, str]) -> None:
        await original(topic, key, body, headers)
        state.docs[0]["seq"] = 3

    broker.publish = meanwhile  # type: ignore[method-assign]
    assert await stale.publish_once() == 2
    assert state.docs == [{"_id": CURSOR_ID, "seq": 3}]


async def test_an_entry_not_made_of_codes_is_left_off_and_the_feed_goes_on() -> None:
    typed = entry(1, action="Посмотрел документ")
    assert access_event("documents", typed) is None
    journal, state, broker = FakeCollection([typed, entry(2)]), FakeCollection(), FakeBroker()
    assert await feed(journal, state, broker).publish_once() == 2
    assert broker.entry_ids() == ["documents:2:oid2"]


# --- the reasons endpoint ------------------------------------------------------------------


def _issuer(service: str) -> tuple[ServiceTokenIssuer, dict[str, bytes]]:
    seed = os.urandom(32)
    return ServiceTokenIssuer(service, {"k1": seed}, "k1", 60), {"k1": public_key_for(seed)}


async def test_only_identity_reads_the_reasons() -> None:
    identity, identity_keys = _issuer("identity")
    records, records_keys = _issuer("records")
    verifier = ServiceTokenVerifier(
        "documents", {"identity": identity_keys, "records": records_keys}, ["identity"]
    )
    journal = FakeCollection(
        [entry(1), entry(2, reason=None), entry(3, owner_id="citizen-2"), entry(4, listed=False)]
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(reasons_router(cast(AsyncCollection[Doc], journal), "documents", verifier))
    path = "/internal/v1/access-log/reasons"
    ids = {"owner": "citizen-1", "id": ["documents:1:oid1", "documents:2:oid2", "documents:3:oid3",
                                         "documents:4:oid4", "records:1", "x"]}  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://documents"
    ) as http:
        mine = await http.get(
            path,
            params=ids,
            headers={"Authorization": f"Bearer {identity.token_for('documents')}"},
        )
        other = await http.get(
            path,
            params=ids,
            headers={"Authorization": f"Bearer {records.token_for('documents')}"},
        )
        anonymous = await http.get(path, params=ids)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "items": [
            {"id": "documents:1:oid1", "reason": REASON},
            {"id": "documents:2:oid2", "reason": None},
            {"id": "documents:3:oid3", "reason": None},  # another person's
            {"id": "documents:4:oid4", "reason": None},  # not one the owner reads
            {"id": "records:1", "reason": None},  # not this service's
            {"id": "x", "reason": None},
        ]
    }
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    assert REASON not in other.text
    assert anonymous.status_code == 401
