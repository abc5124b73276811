"""Signed records: what a medical worker writes, signed with a key registered soon after a
login; refused with the field named when anything is off; never overwritten."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from emk_testing import Caller, TopicTap
from records.api.schemas import BookPage

from .conftest import PERIODIC_ONLY, RecordsApp, b64, certification, exam

KEY = "/api/v1/records/me/signing-key"


def records_of(book_id: str) -> str:
    return f"/api/v1/records/books/{book_id}/records"


async def test_a_signing_key_needs_a_fresh_login(service: RecordsApp) -> None:
    worker = Caller.new("medical_worker", "1027700132195")
    body = {"public_key": b64(Ed25519PrivateKey.generate().public_key().public_bytes_raw())}
    eleven_minutes_ago = int(service.clock().timestamp()) - 11 * 60
    async with service.client() as http:
        stale = await http.put(
            KEY, json=body, headers=worker.headers_signed_in_at(eleven_minutes_ago)
        )
        fresh = await http.put(
            KEY, json=body, headers=worker.headers_signed_in_at(eleven_minutes_ago + 120)
        )
        recent = worker.headers_signed_in_at(eleven_minutes_ago + 120)
        short = {"public_key": b64(b"\x01" * 31)}  # 31 bytes: not an Ed25519 key
        bad = await http.put(KEY, json=short, headers=recent)
    assert stale.status_code == 401
    assert "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
    assert fresh.status_code == 200
    assert fresh.json()["state"] == "live"
    assert _fields(bad) == {"public_key": "format"}
    async with service.client(Caller.new("citizen")) as http:
        assert (await http.put(KEY, json=body)).status_code == 403


async def test_a_signed_exam_is_accepted_and_anyone_can_verify_it(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    record = exam(book.id, recommendations="Повторный осмотр через 12 месяцев")
    async with service.client(worker) as http:
        written = await http.post(records_of(book.id), json=worker.signed(record))
    assert written.status_code == 201, written.text
    assert written.json()["version"] == 1
    recorded = await published.wait(book.id, "ExamRecorded")
    assert recorded[0].data["record_id"] == record["record_id"]
    assert "conclusion" not in recorded[0].data

    async with service.client(citizen) as http:
        shown = (await http.get("/api/v1/records/book")).json()
        [item] = shown["exams"]
        key = (await http.get(f"/api/v1/records/signing-keys/{item['signature']['key_id']}")).json()
    assert item["conclusion"] == "fit"
    assert item["labels"]["conclusion"] == "Годен"
    assert item["organization"]["name"].startswith("ГБУЗ")
    assert item["author"]["name"] == "Петрова Анна Сергеевна"
    # Verify as a reader would: drop what the service added, canonicalise, check.
    added = ("id", "version", "labels", "organization", "author", "signature", "recorded_at")
    signed = {k: v for k, v in item.items() if k not in added}
    assert signed == record
    public = Ed25519PublicKey.from_public_bytes(_unb64(key["public_key"]))
    public.verify(_unb64(item["signature"]["value"]), rfc8785.dumps(signed))
    assert key["worker"]["user_id"] == worker.caller.user_id
    assert key["state"] == "live"


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


async def test_a_tampered_record_another_workers_key_or_a_replay_are_refused(
    service: RecordsApp,
) -> None:
    _, book = await service.issue()
    _, other_book = await service.issue()
    worker, colleague = await service.worker(), await service.worker()
    await service.open_book(worker, book)
    await service.open_book(worker, other_book)
    record = exam(book.id)
    signed = worker.signed(record)
    async with service.client(worker) as http:
        tampered = await http.post(
            records_of(book.id), json={**signed, "record": {**record, "conclusion": "unfit"}}
        )
        foreign_key = await http.post(
            records_of(book.id), json={**colleague.signed(record), "key_id": colleague.key_id}
        )
        replayed = await http.post(records_of(other_book.id), json=signed)
        accepted = await http.post(records_of(book.id), json=signed)
        twice = await http.post(records_of(book.id), json=signed)
    assert _fields(tampered) == {"signature": "invalid"}
    assert _fields(foreign_key) == {"key_id": "unknown_key"}
    assert _fields(replayed) == {"record.book_id": "mismatch"}
    assert accepted.status_code == 201
    assert twice.status_code == 409


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["field"]: e["code"] for e in response.json()["errors"]}


async def test_bad_input_is_named_field_by_field_in_russian(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    async with service.client(worker) as http:
        future = await http.post(
            records_of(book.id), json=worker.signed(exam(book.id, date="2026-12-01"))
        )
        before_birth = await http.post(
            records_of(book.id), json=worker.signed(exam(book.id, date="1989-01-01"))
        )
        vocabulary = await http.post(
            records_of(book.id),
            json=worker.signed(
                {
                    "record_id": str(uuid.uuid4()),
                    "kind": "vaccination",
                    "book_id": book.id,
                    "disease": "plague",
                    "vaccine": "X",
                    "dose": 1,
                    "date": "2026-11-01",
                }
            ),
        )
        conclusion = await http.post(
            records_of(book.id), json=worker.signed(exam(book.id, conclusion="healthy"))
        )
        no_body = await http.post(records_of(book.id), json={"record": {}})
    assert _fields(future) == {"record.date": "future"}
    assert _fields(before_birth) == {"record.date": "before_birth"}
    assert _fields(vocabulary) == {"record.disease": "choice"}
    assert _fields(conclusion) == {"record.conclusion": "choice"}
    message = conclusion.json()["errors"][0]["message"]
    assert message.startswith("Поле «record.conclusion»: допустимые значения")
    assert set(_fields(no_body)) == {"key_id", "signature"}


async def test_an_exam_outside_the_organisations_licence_is_refused(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker(PERIODIC_ONLY)
    await service.open_book(worker, book)
    async with service.client(worker) as http:
        refused = await http.post(
            records_of(book.id), json=worker.signed(exam(book.id, exam_type="preliminary"))
        )
    assert _fields(refused) == {"record.exam_type": "not_licensed"}


async def test_a_correction_is_a_new_version_and_the_history_keeps_both(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    first = exam(book.id, conclusion="unfit")
    correction = exam(book.id, replaces=first["record_id"], reason="Ошибка при вводе заключения")
    async with service.client(worker) as http:
        assert (await http.post(records_of(book.id), json=worker.signed(first))).status_code == 201
        fixed = await http.post(records_of(book.id), json=worker.signed(correction))
    assert fixed.status_code == 201
    assert fixed.json() == {
        "id": first["record_id"],
        "version": 2,
        "record_id": correction["record_id"],
    }
    await published.wait(book.id, "RecordCorrected")
    async with service.client(citizen) as http:
        history = await http.get(f"/api/v1/records/book/records/{first['record_id']}/history")
        shown = (await http.get("/api/v1/records/book")).json()
        unknown = await http.get(f"/api/v1/records/book/records/{uuid.uuid4()}/history")
    assert [(v["version"], v["conclusion"]) for v in history.json()] == [(1, "unfit"), (2, "fit")]
    assert [e["conclusion"] for e in shown["exams"]] == ["fit"]
    assert unknown.status_code == 404
    async with service.client(worker) as http:
        theirs = await http.get(
            f"/api/v1/records/books/{book.id}/records/{correction['record_id']}/history"
        )
    assert len(theirs.json()) == 2


async def test_exam_and_attestation_make_the_book_valid_and_the_topic_hears_it(
    service: RecordsApp, published: TopicTap
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(worker, book, exam(book.id), certification(book.id))
    [validity] = await published.wait(book.id, "BookValidityChanged")
    assert validity.data["status"] == "valid"
    assert validity.data["valid_until"] == "2027-11-20"
    latest_due = (await published.wait(book.id, "BookDueDatesChanged", count=3))[-1]
    due = latest_due.data["due"]
    assert {d["kind"]: d["due_date"] for d in due if d["kind"] != "vaccination"} == {
        "periodic_exam": "2027-11-20",
        "attestation": "2027-11-21",
    }
    # Food work: hepatitis A and shigellosis are expected, due at once — by opaque ids.
    expected = [d for d in due if d["kind"] == "vaccination"]
    assert [d["due_date"] for d in expected] == [str(book.issued_on)] * 2
    assert not any("hepatitis" in d["item_id"] or "shigell" in d["item_id"] for d in expected)
    async with service.client(citizen) as http:
        shown = (await http.get("/api/v1/records/book")).json()
    BookPage.model_validate(shown)  # the answer is what the OpenAPI document says
    assert shown["exams"][0]["labels"]["exam_type"] == "Периодический"
    assert (shown["status"], shown["status_label"], shown["valid_until"]) == (
        "valid",
        "Действует",
        "2027-11-20",
    )


async def test_a_revoked_key_signs_nothing_new_but_still_verifies(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    async with service.client(worker) as http:
        assert (
            await http.post(records_of(book.id), json=worker.signed(exam(book.id)))
        ).status_code == 201
        revoked = await http.delete(f"/api/v1/records/me/signing-keys/{worker.key_id}")
        refused = await http.post(records_of(book.id), json=worker.signed(exam(book.id)))
        key = (await http.get(f"/api/v1/records/signing-keys/{worker.key_id}")).json()
    assert revoked.status_code == 204
    assert _fields(refused) == {"key_id": "unknown_key"}
    assert key["state"] == "revoked"
    async with service.client(Caller.new("medical_worker", "1027700132195")) as http:
        assert (
            await http.delete(f"/api/v1/records/me/signing-keys/{worker.key_id}")
        ).status_code == 404


async def test_a_new_key_supersedes_the_old_one(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    key = Ed25519PrivateKey.generate()
    async with service.client() as http:
        renewed = await http.put(
            KEY,
            json={"public_key": b64(key.public_key().public_bytes_raw())},
            headers=worker.caller.headers_signed_in_at(int(service.clock().timestamp())),
        )
    assert renewed.status_code == 200
    async with service.client(worker) as http:
        old = await http.post(records_of(book.id), json=worker.signed(exam(book.id)))
        state = (await http.get(f"/api/v1/records/signing-keys/{worker.key_id}")).json()["state"]
    assert _fields(old) == {"key_id": "unknown_key"}
    assert state == "superseded"


async def test_a_deactivated_worker_is_refused_at_once_and_their_grants_end(
    service: RecordsApp,
) -> None:
    citizen, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.records.worker_deactivated(worker.caller.user_id, service.clock())
    async with service.client(worker) as http:
        read = await http.get(f"/api/v1/records/books/{book.id}")
        write = await http.post(records_of(book.id), json=worker.signed(exam(book.id)))
        key = (await http.get(f"/api/v1/records/signing-keys/{worker.key_id}")).json()
    assert read.status_code == 403
    assert write.status_code == 403
    assert key["state"] == "revoked"
    async with service.client(citizen) as http:
        grants = (await http.get("/api/v1/records/book/grants")).json()["items"]
    assert [g["active"] for g in grants] == [False]


async def test_an_admin_revokes_a_workers_key_and_nobody_else_can(service: RecordsApp) -> None:
    worker = await service.worker()
    path = f"/api/v1/records/me/signing-keys/{worker.key_id}"
    for role in ("operator", "citizen", "employer"):
        async with service.client(Caller.new(role)) as http:
            assert (await http.delete(path)).status_code == 403, role
    async with service.client(Caller.new("admin")) as http:
        assert (await http.delete(path)).status_code == 204
        key = (await http.get(f"/api/v1/records/signing-keys/{worker.key_id}")).json()
    assert key["state"] == "revoked"


async def test_medical_content_is_encrypted_at_rest(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    record = exam(book.id, conclusion="fit_with_restrictions", restriction="Без ночных смен")
    async with service.client(worker) as http:
        assert (await http.post(records_of(book.id), json=worker.signed(record))).status_code == 201
    db = service.app.state.records.store.books.database
    stored = [
        *await db["books"].find({"_id": book.id}).to_list(),
        *await db["record_versions"].find({"book_id": book.id}).to_list(),
    ]
    text = repr(stored)
    for secret in ("Без ночных смен", "fit_with_restrictions", "терапевт"):
        assert secret not in text
    assert record["record_id"] in text  # ids, signatures and dates stay searchable


async def test_an_unfit_exam_looks_like_any_book_not_valid_to_operators_and_the_topic(
    service: RecordsApp, published: TopicTap
) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    await service.write(
        worker, book, exam(book.id), certification(book.id), exam(book.id, conclusion="unfit")
    )
    changes = await published.wait(book.id, "BookValidityChanged", count=2)
    assert [(c.data["status"], c.data["valid_until"]) for c in changes] == [
        ("valid", "2027-11-20"),
        ("not_valid", None),
    ]
    async with service.client(Caller.new("operator")) as http:
        shown = (
            await http.get(f"/api/v1/records/books/{book.id}", headers={"X-Access-Reason": "audit"})
        ).json()
    assert (shown["status"], shown["valid_until"]) == ("not_valid", None)
    assert {d["kind"] for d in shown["due"]} <= {"periodic_exam", "attestation"}


async def test_a_record_signed_with_a_key_of_another_organisation_is_refused(
    service: RecordsApp,
) -> None:
    from .conftest import OTHER_CLINIC, Worker

    _, book = await service.issue()
    worker = await service.worker()  # the key is registered for CLINIC
    moved = Worker(
        Caller(worker.caller.user_id, "medical_worker", OTHER_CLINIC), worker.private_key,
        worker.key_id,
    )  # fmt: skip
    await service.open_book(moved, book)
    async with service.client(moved) as http:
        refused = await http.post(records_of(book.id), json=moved.signed(exam(book.id)))
    assert _fields(refused) == {"key_id": "unknown_key"}


async def test_the_record_is_kept_exactly_as_sent_keys_untrimmed(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    record = {**exam(book.id), " kind": "exam"}  # a key with a space is not "kind"
    async with service.client(worker) as http:
        refused = await http.post(records_of(book.id), json=worker.signed(record))
    assert _fields(refused) == {"record. kind": "unknown_field"}  # not a signature error


async def test_a_record_naming_a_member_twice_is_refused(service: RecordsApp) -> None:
    _, book = await service.issue()
    worker = await service.worker()
    await service.open_book(worker, book)
    signed = worker.signed(exam(book.id))
    body = json.dumps(signed, ensure_ascii=False)
    # "conclusion" twice: a parser keeping the first would read «Годен», ours the last.
    twice = body.replace('"conclusion": "fit"', '"conclusion": "fit", "conclusion": "unfit"')
    assert twice != body
    async with service.client(worker) as http:
        refused = await http.post(
            records_of(book.id), content=twice, headers={"Content-Type": "application/json"}
        )
    assert _fields(refused) == {"record": "duplicate_key"}
