"""Signing keys and signed records, on fakes (the real Ed25519 scheme): a key registered
soon after a login; a record accepted only with a valid signature by the worker's live key of
their organisation, into a book open to it; corrections as new versions; what is refused is
refused with every field named, and nothing is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem

from .fakes import CLINIC, NOW, OTHER_CLINIC, PERIODIC_ONLY, WORKER_NAME
from .rig import Rig, Signer, b64, certification, exam, staff


@pytest.fixture
def rig() -> Rig:
    return Rig()


def fields(caught: pytest.ExceptionInfo[InvalidFieldsError]) -> dict[str, str]:
    return {e.field: e.code for e in caught.value.errors}


# --- signing keys --------------------------------------------------------------------------------


async def test_a_key_registered_soon_after_a_login_is_live(rig: Rig) -> None:
    signer = rig.worker()
    rig.clock.advance(minutes=9)  # signed in nine minutes ago
    key = await rig.records.register_key(signer.who, signer.public_key)
    raw = signer.private_key.public_key().public_bytes_raw()
    assert key.id == "k-" + hashlib.sha256(raw).hexdigest()[:24]
    assert (key.state, key.public_key, key.algorithm) == ("live", signer.public_key, "Ed25519")
    assert (key.worker_id, key.worker_name) == (signer.who.user_id, WORKER_NAME)
    assert (key.organization_id, key.registered_at) == (CLINIC, rig.clock())
    assert await rig.records.signing_key(key.id) == key
    again = await rig.records.register_key(signer.who, signer.public_key)
    assert again == key  # the live key again: nothing changes


async def test_a_key_needs_a_fresh_login(rig: Rig) -> None:
    signer = rig.worker()
    rig.clock.advance(minutes=10, seconds=1)
    never = replace(signer.who, auth_time=None)
    for who in (signer.who, never):
        with pytest.raises(Problem) as caught:
            await rig.records.register_key(who, signer.public_key)
        assert caught.value.status == 401
        assert caught.value.headers == {
            "WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'
        }
        assert "10 минут" in caught.value.detail
    assert rig.store.keys == {}


@pytest.mark.parametrize("public_key", [b64(b"\x01" * 31), "не base64", b64(b"\x00" * 33)])
async def test_what_is_not_an_ed25519_key_is_refused(rig: Rig, public_key: str) -> None:
    with pytest.raises(Problem) as caught:
        await rig.records.register_key(rig.worker().who, public_key)
    assert caught.value.status == 422
    assert [(e.field, e.code) for e in caught.value.errors] == [("public_key", "format")]
    assert rig.store.keys == {}


async def test_a_new_key_supersedes_the_previous_one(rig: Rig) -> None:
    signer = await rig.signer()
    newer = Signer(signer.who)
    key = await rig.records.register_key(newer.who, newer.public_key)
    assert key.state == "live"
    assert rig.store.keys[signer.key_id].state == "superseded"
    _, book = await rig.issued()
    await rig.open_book(signer, book)
    with pytest.raises(InvalidFieldsError) as caught:  # the superseded key signs no more
        await rig.write(signer, book, exam(book.id))
    assert fields(caught) == {"key_id": "unknown_key"}


async def test_a_key_of_someone_else_or_revoked_cannot_be_registered(rig: Rig) -> None:
    signer = await rig.signer()
    thief = Signer(rig.worker().who, signer.private_key)
    with pytest.raises(Problem) as caught:
        await rig.records.register_key(thief.who, thief.public_key)
    assert (caught.value.status, caught.value.extensions) == (409, {"current_state": "taken"})
    await rig.records.revoke_key(signer.who, signer.key_id)
    with pytest.raises(Problem) as caught:
        await rig.records.register_key(signer.who, signer.public_key)
    assert (caught.value.status, caught.value.extensions) == (409, {"current_state": "revoked"})
    assert [k.worker_id for k in rig.store.keys.values()] == [signer.who.user_id]


async def test_a_key_is_not_registered_while_identity_cannot_say_who_the_worker_is(
    rig: Rig,
) -> None:
    rig.peers.down = True
    with pytest.raises(Problem) as caught:
        await rig.records.register_key(rig.worker().who, rig.worker().public_key)
    assert (caught.value.status, caught.value.headers) == (503, {"Retry-After": "10"})
    rig.peers.down = False
    unknown = Signer(staff("medical_worker", CLINIC, auth_time=rig.signed_in_now()))
    unknown = Signer(replace(unknown.who, user_id="someone-identity-never-heard-of"))
    with pytest.raises(Problem) as caught:
        await rig.records.register_key(unknown.who, unknown.public_key)
    assert caught.value.status == 403
    assert rig.store.keys == {}


async def test_a_key_is_revoked_by_its_worker_or_an_admin_only(rig: Rig) -> None:
    signer, other = await rig.signer(), await rig.signer()
    with pytest.raises(Problem) as caught:
        await rig.records.revoke_key(other.who, signer.key_id)
    assert (caught.value.status, caught.value.detail) == (404, "Ключ подписи не найден.")
    assert rig.store.keys[signer.key_id].state == "live"
    await rig.records.revoke_key(staff("admin"), signer.key_id)
    revoked = await rig.records.signing_key(signer.key_id)
    assert (revoked.state, revoked.revoked_at) == ("revoked", NOW)
    await rig.records.revoke_key(other.who, other.key_id)
    assert rig.store.keys[other.key_id].state == "revoked"
    with pytest.raises(Problem) as caught:
        await rig.records.signing_key("k-unknown")
    assert caught.value.status == 404


# --- signed records ------------------------------------------------------------------------------


async def test_a_signed_exam_is_accepted_recorded_and_logged(rig: Rig) -> None:
    holder, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    record = exam(book.id, recommendations="Повторный осмотр через 12 месяцев")
    written = await rig.write(signer, book, record)
    assert (written.id, written.record_id, written.version) == (
        record["record_id"],
        record["record_id"],
        1,
    )
    [stored] = (await rig.book(book.id)).records
    assert stored.content == record
    assert (stored.author.user_id, stored.author.name) == (signer.who.user_id, WORKER_NAME)
    assert (stored.organization.id, stored.key_id, stored.recorded_at) == (
        CLINIC,
        signer.key_id,
        NOW,
    )
    assert stored.signature == signer.signature(record)
    assert stored.canonical_sha256 == hashlib.sha256(rfc8785.dumps(record)).hexdigest()
    recorded = rig.store.events_of(book.id)[-2:]
    assert isinstance(recorded[0], catalog.ExamRecorded)
    assert (recorded[0].record_id, recorded[0].recorded_by) == (
        record["record_id"],
        signer.who.user_id,
    )
    assert isinstance(recorded[1], catalog.BookDueDatesChanged)
    assert rig.store.access_log.actions(book.id)[-1] == (
        signer.who.user_id,
        "write",
        "Запись: exam",
    )
    _, lists = await rig.records.own_shown(holder)
    [shown] = json.loads(lists)["exams"]
    assert (shown["conclusion"], shown["labels"]["conclusion"]) == ("fit", "Годен")


async def test_an_exam_and_a_certification_make_the_book_valid(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    await rig.write(signer, book, exam(book.id))
    await rig.write(signer, book, certification(book.id))
    [changed] = [
        e for e in rig.store.events_of(book.id) if isinstance(e, catalog.BookValidityChanged)
    ]
    assert (changed.status, str(changed.valid_until)) == ("valid", "2027-11-20")
    assert (await rig.book(book.id)).published.status == "valid"


async def refused_and_nothing_written(
    rig: Rig, signer: Signer, record: dict[str, Any], **kw: Any
) -> dict[str, str]:
    book = await rig.book(record["book_id"])
    events, log = len(rig.store.events), len(rig.store.access_log.entries)
    with pytest.raises(InvalidFieldsError) as caught:
        await rig.write(signer, book, record, **kw)
    assert caught.value.detail == "Запись не принята."
    assert await rig.book(book.id) == book
    assert (len(rig.store.events), len(rig.store.access_log.entries)) == (events, log)
    return fields(caught)


async def test_a_record_whose_signature_does_not_hold_is_refused(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    record = exam(book.id)
    forged = signer.signature(record, Ed25519PrivateKey.generate())
    tampered = signer.signature({**record, "conclusion": "unfit"})
    for signature in (forged, tampered, "не подпись", b64(b"\x00" * 64)):
        assert await refused_and_nothing_written(rig, signer, record, signature=signature) == {
            "signature": "invalid"
        }


async def test_a_record_signed_with_a_key_that_may_not_sign_it_is_refused(rig: Rig) -> None:
    _, book = await rig.issued()
    signer, colleague = await rig.signer(), await rig.signer()
    moved = Signer(replace(signer.who, organization_id=OTHER_CLINIC), signer.private_key,
                   signer.key_id)  # fmt: skip
    for worker in (signer, moved):
        await rig.open_book(worker, book)
    record = exam(book.id)
    unknown = {"key_id": "k-unknown"}
    assert await refused_and_nothing_written(rig, signer, record, **unknown) == {
        "key_id": "unknown_key"
    }
    theirs = {"key_id": colleague.key_id, "signature": colleague.signature(record)}
    assert await refused_and_nothing_written(rig, signer, record, **theirs) == {
        "key_id": "unknown_key"
    }
    assert await refused_and_nothing_written(rig, moved, exam(book.id)) == {
        "key_id": "unknown_key"  # registered for CLINIC, signing for OTHER_CLINIC
    }
    await rig.records.revoke_key(signer.who, signer.key_id)
    assert await refused_and_nothing_written(rig, signer, exam(book.id)) == {
        "key_id": "unknown_key"
    }


async def test_every_wrong_field_is_named_at_once(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    record = exam(book.id, conclusion="maybe", date="2099-01-01")
    found = await refused_and_nothing_written(rig, signer, record, signature=b64(b"\x00" * 64))
    assert found == {
        "record.conclusion": "choice",
        "record.date": "future",
        "signature": "invalid",
    }


async def test_an_exam_the_organisation_is_not_licensed_for_is_refused(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer(PERIODIC_ONLY)
    await rig.open_book(signer, book)
    assert await refused_and_nothing_written(
        rig, signer, exam(book.id, exam_type="preliminary")
    ) == {"record.exam_type": "not_licensed"}
    await rig.write(signer, book, exam(book.id, exam_type="periodic"))


async def test_a_record_into_a_book_not_open_to_the_organisation_is_not_found(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    for book_id in (book.id, "no-such-book"):
        with pytest.raises(Problem) as caught:
            await rig.records.add_record(
                signer.who, book_id, exam(book_id), signer.key_id, signer.signature(exam(book_id))
            )
        assert (caught.value.status, caught.value.detail) == (404, "Медицинская книжка не найдена.")
    assert (await rig.book(book.id)).records == ()


async def test_the_same_record_sent_twice_is_a_conflict(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    record = exam(book.id)
    await rig.write(signer, book, record)
    events = len(rig.store.events)
    with pytest.raises(Problem) as caught:
        await rig.write(signer, book, record)
    assert (caught.value.status, caught.value.extensions) == (409, {"current_state": "recorded"})
    assert len((await rig.book(book.id)).records) == 1
    assert len(rig.store.events) == events


# --- corrections ---------------------------------------------------------------------------------


async def test_a_correction_is_a_new_version_of_its_record(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    first = exam(book.id, conclusion="unfit")
    await rig.write(signer, book, first)
    fix = exam(book.id, replaces=first["record_id"], reason="Ошибка при вводе заключения")
    written = await rig.write(signer, book, fix)
    assert (written.id, written.record_id, written.version) == (
        first["record_id"],
        fix["record_id"],
        2,
    )
    after = await rig.book(book.id)
    assert [v.version for v in after.history(fix["record_id"])] == [1, 2]  # nothing overwritten
    assert [r.content["conclusion"] for r in after.current_records()] == ["fit"]
    corrected = [e for e in rig.store.events_of(book.id) if isinstance(e, catalog.RecordCorrected)]
    assert [(e.record_id, e.record_version, e.record_kind) for e in corrected] == [
        (first["record_id"], 2, "exam")
    ]
    again = exam(book.id, replaces=fix["record_id"], reason="Уточнение", conclusion="fit")
    assert (await rig.write(signer, book, again)).version == 3  # a version id names its record


async def test_a_correction_that_does_not_fit_the_book_is_refused(rig: Rig) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    first = exam(book.id)
    await rig.write(signer, book, first)
    nowhere = exam(book.id, replaces="00000000-0000-4000-8000-000000000000", reason="Ошибка")
    assert await refused_and_nothing_written(rig, signer, nowhere) == {
        "record.replaces": "not_found"
    }
    other_kind = certification(book.id, replaces=first["record_id"], reason="Ошибка")
    assert await refused_and_nothing_written(rig, signer, other_kind) == {"record.kind": "mismatch"}


# --- races ---------------------------------------------------------------------------------------


async def test_a_write_that_lost_a_race_is_decided_again_on_what_the_other_left(
    rig: Rig,
) -> None:
    _, book = await rig.issued()
    signer = await rig.signer()
    await rig.open_book(signer, book)
    theirs, ours = exam(book.id), certification(book.id)

    async def another_write() -> None:
        await rig.write(signer, await rig.book(book.id), theirs)

    rig.store.meanwhile = another_write
    await rig.write(signer, book, ours)
    after = await rig.book(book.id)
    assert [r.record_id for r in after.records] == [theirs["record_id"], ours["record_id"]]
    assert after.published.status == "valid"  # decided on both


async def test_a_write_racing_the_end_of_the_grant_is_not_written(rig: Rig) -> None:
    holder, book = await rig.issued()
    signer = await rig.signer()
    [grant] = (await rig.open_book(signer, book)).grants

    async def the_holder_ends_it() -> None:
        await rig.records.end_grant(holder, grant.id)

    rig.store.meanwhile = the_holder_ends_it
    with pytest.raises(Problem) as caught:
        await rig.write(signer, book, exam(book.id))
    assert caught.value.status == 404
    assert (await rig.book(book.id)).records == ()
