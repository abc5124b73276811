"""An upload that cannot be stored leaves nothing behind: no record pointing at a missing
object, no object nobody records — whichever of S3 and MongoDB failed, and however late
they answer again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pymongo.errors import NetworkTimeout

from documents import service as documents_service
from documents.domain.document import Document
from emk_common.problems import Problem
from emk_testing import FakeClock, eventually

from .. import samples
from .fakes import Service, person, service

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
OWNER = person("owner-1")


@pytest.fixture
def s(monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setattr(documents_service, "_DISCARD_FIRST_DELAY", 0.01)
    monkeypatch.setattr(documents_service, "_DISCARD_MAX_DELAY", 0.02)
    monkeypatch.setattr(documents_service, "_DISCARD_SETTLE", 0.05)
    return service(FakeClock(NOW))


async def upload(s: Service) -> None:
    await s.documents.upload(OWNER, "passport", "scan.pdf", samples.pdf())


async def nothing_left(s: Service) -> bool:
    return not s.storage.objects and not s.store.documents and s.storage.removed != []


@pytest.mark.parametrize("how", ["refused", "lost"])
async def test_s3_failing_the_write_is_a_503_and_leaves_nothing(s: Service, how: str) -> None:
    s.storage.put_fails = how  # type: ignore[assignment]
    s.storage.remove_fails = 2  # and it is still away for a while

    with pytest.raises(Problem) as caught:
        await upload(s)

    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "5"
    assert s.store.documents == {}
    assert s.store.events == []
    assert s.store.log_entries == []
    # An object whose answer was lost may have landed: it is removed once S3 answers.
    await eventually(lambda: nothing_left(s), within=5, what="the object removed")
    assert s.storage.remove_fails == 0

    s.storage.put_fails = "no"  # S3 is back: the same upload goes through
    await upload(s)
    assert len(s.storage.objects) == len(s.store.documents) == 1


async def test_mongodb_failing_the_record_removes_the_stored_object(s: Service) -> None:
    s.store.insert_fails = "timeout"
    s.store.reads_fail = 3  # the check before removing waits for MongoDB too

    with pytest.raises(NetworkTimeout):  # the app answers it with a 503 (emk_common)
        await upload(s)

    await eventually(lambda: nothing_left(s), within=5, what="the object removed")
    assert s.store.reads_fail == 0


async def test_a_record_that_landed_after_all_keeps_its_object(s: Service) -> None:
    s.store.insert_fails = "lost"

    with pytest.raises(NetworkTimeout):
        await upload(s)

    [document_id] = s.store.documents
    tasks = list(s.documents._discarding)
    for task in tasks:
        await task
    assert tasks
    assert s.storage.removed == []
    assert set(s.storage.objects) == {document_id}  # a consistent document, not an orphan


async def test_a_record_landing_late_keeps_its_object(s: Service) -> None:
    s.store.insert_fails = "lost"
    asked = 0
    recorded = s.store.get

    async def landing_late(document_id: str) -> Document | None:
        nonlocal asked
        asked += 1  # the first answer comes before MongoDB has run the stale write
        return None if asked == 1 else await recorded(document_id)

    s.store.get = landing_late  # type: ignore[method-assign]
    with pytest.raises(NetworkTimeout):
        await upload(s)

    for task in list(s.documents._discarding):
        await task
    assert asked == 2
    assert s.storage.removed == []
    assert set(s.storage.objects) == set(s.store.documents)
