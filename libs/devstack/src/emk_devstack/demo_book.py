"""``make demo``, the book: after the approval, the records service issues the medical book and
applications shows «Готово к выдаче»; the admin makes a medical worker, who registers a signing
key, opens the book with the citizen's visit code and records an exam, a lab result, the
hygiene attestation and a vaccination, each signed; the citizen then reads a valid book with
its due dates; then shares it: a share code with its QR (saved as a PNG), the public check
page an employer's phone opens, and the employer's list of the books shared with it."""

from __future__ import annotations

import base64
import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from secrets import randbelow
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

if TYPE_CHECKING:
    from emk_devstack.demo import Journey

# A medical organisation of deploy/local/registries/medical_organisations.json.
CLINIC_OGRN = "1027700132195"
WORKER_PASSWORD = "Врачебный-пароль-2026"  # noqa: S105 - a demo account's
HR_PASSWORD = "Кадровый-пароль-2026"  # noqa: S105 - a demo account's
_TAGS = re.compile(r"<[^>]+>")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def medical_worker(journey: Journey, admin: str) -> tuple[str, Ed25519PrivateKey, str]:
    """A medical worker of the demo clinic, made by the admin, signed in (the code comes by
    e-mail), with a signing key registered: their token, private key and key id."""
    email = f"doctor.{uuid.uuid4().hex[:8]}@example.ru"
    await journey.call("POST", "identity", "/staff", token=admin, expect=201, json={
        "role": "medical_worker", "last_name": "Петрова", "first_name": "Анна",
        "middle_name": "Сергеевна", "email": email,
        "phone": f"+79{randbelow(1_000_000_000):09d}", "password": WORKER_PASSWORD,
        "organization_id": CLINIC_OGRN,
    })  # fmt: skip
    doctor = await journey.login(email, WORKER_PASSWORD, email)
    key = Ed25519PrivateKey.generate()
    registered = await journey.call(
        "PUT", "records", "/me/signing-key", token=doctor,
        json={"public_key": _b64(key.public_key().public_bytes_raw())},
    )  # fmt: skip
    return doctor, key, str(registered["key_id"])


async def the_book(
    journey: Journey, *, citizen: str, admin: str, application: str
) -> dict[str, Any]:
    from emk_devstack.demo import waiting

    say = journey.say
    say("11. The book is issued (records) and the application is «Готово к выдаче»")

    async def issued() -> dict[str, Any] | None:
        found = await journey.call("GET", "applications", application, token=citizen)
        return dict(found) if found["status"] == "issued" else None

    done = await waiting(issued, "the application to be issued")
    book = await journey.call("GET", "records", "/book", token=citizen)
    say(f"   book № {book['number']}: «{book['status_label']}» (nothing recorded yet)")
    say(f"   application: «{done['status_label']}»")

    say("12. The admin makes a medical worker, who signs in and registers a signing key")
    doctor, key, key_id = await medical_worker(journey, admin)
    say(f"   key {key_id}: live")

    say("13. The citizen shows a visit code; the worker opens the book with it")
    visit = await journey.call("POST", "records", "/book/visit-codes", token=citizen, expect=201)
    found = await journey.call(
        "POST", "records", "/books/lookup", token=doctor, json={"visit_code": visit["code"]}
    )
    book_id = found["book_id"]
    say(f"   code {visit['code']} → book № {found['number']}, open to the clinic for 30 days")

    say("14. The worker records an exam (from 360 days ago: the next one is due in 5 days),")
    say("    a lab result, the attestation and a vaccination")
    moscow_today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date()
    today, exam_day = moscow_today.isoformat(), (moscow_today - timedelta(days=360)).isoformat()
    records: list[dict[str, Any]] = [
        {"kind": "exam", "exam_type": "periodic", "date": exam_day,
         "specialists": ["терапевт", "дерматовенеролог", "стоматолог"], "conclusion": "fit",
         "recommendations": "Повторный осмотр через 12 месяцев"},
        {"kind": "lab_result", "test": "fluorography", "result": "normal", "date": today},
        {"kind": "certification", "category": "food", "passed": True, "date": today},
        {"kind": "vaccination", "disease": "diphtheria", "vaccine": "АДС-М", "series": "123-45",
         "dose": 1, "date": today},
    ]  # fmt: skip
    for body in records:
        record = {"record_id": str(uuid.uuid4()), "book_id": book_id, **body}
        signature = _b64(key.sign(rfc8785.dumps(record)))
        written = await journey.call(
            "POST", "records", f"/books/{book_id}/records", token=doctor, expect=201,
            json={"record": record, "key_id": key_id, "signature": signature},
        )  # fmt: skip
        say(f"   {body['kind']}: signed, version {written['version']}")

    say("15. The citizen's book")
    book = await journey.call("GET", "records", "/book", token=citizen)
    say(f"   № {book['number']}: «{book['status_label']}» ({book['status']}), "
        f"valid until {book['valid_until']}")  # fmt: skip
    for due in book["due"]:
        item = f" ({due['item_label']})" if due.get("item_label") else ""
        say(f"   due: {due['kind_label']}{item} — {due['due_date']}")

    say("15a. A reminder arrives: the exam is due within the 7-day window (notifications)")

    async def reminded() -> dict[str, Any] | None:
        page = await journey.call("GET", "notifications", "", token=citizen)
        return next((n for n in page["items"] if n["kind"] == "reminder"), None)

    reminder = await waiting(reminded, "the reminder of the exam")
    say(f"   in-app: «{reminder['title']}» — {reminder['text'].splitlines()[0]}")
    return {
        "book": book, "application": done, "doctor": doctor, "admin": admin,
        "reminder": reminder,
    }  # fmt: skip


async def share_the_book(journey: Journey, *, citizen: str, admin: str) -> dict[str, Any]:
    """Step 16: the citizen shares the book with the employer; the QR's page is fetched as a
    phone would; the employer's HR sees the worker in its list."""
    say = journey.say
    say("16. The citizen shares the book with the employer: a code and its QR")
    book = await journey.call("GET", "records", "/book", token=citizen)
    inn = book["positions"][0]["employer_inn"]
    share = await journey.call(
        "POST", "records", "/book/shares", token=citizen, expect=201,
        json={"employer_inn": inn, "expires_in_days": 30},
    )  # fmt: skip
    qr = journey.var_dir / "demo" / f"share-qr-{uuid.uuid4().hex[:8]}.png"
    qr.parent.mkdir(parents=True, exist_ok=True)
    qr.write_bytes(base64.b64decode(share["qr_png"]))
    say(f"   code {share['code']}, until {share['expires_at'][:10]}; QR saved to {qr}")

    say("17. An employer opens the QR's page (no sign-in)")
    page = await journey.http.get(share["url"])
    if page.status_code != 200:
        raise ValueError(f"the check page answered {page.status_code}")
    for line in _text_of(page.text):
        say(f"   | {line}")

    say("18. The admin makes the employer's HR account; HR lists the books shared with it")
    email = f"hr.{uuid.uuid4().hex[:8]}@example.ru"
    await journey.call("POST", "identity", "/staff", token=admin, expect=201, json={
        "role": "employer", "last_name": "Смирнова", "first_name": "Ольга",
        "email": email, "phone": f"+79{randbelow(1_000_000_000):09d}",
        "password": HR_PASSWORD, "organization_id": inn,
    })  # fmt: skip
    hr = await journey.login(email, HR_PASSWORD, email)
    listed = await journey.call("GET", "records", "/employer/books", token=hr)
    for item in listed["items"]:
        due = item["next_due"] or "—"
        say(f"   {item['holder']}, {item['position']}: «{item['status_label']}», next due {due}")
    return {"share": share, "qr_png": str(qr), "check_page": page.text, "employer_books": listed}


def _text_of(page: str) -> list[str]:
    """The visible lines of the check page (its ``<main>``), without markup."""
    main = page.split("<main>", 1)[-1].split("</main>", 1)[0].replace("</dt>", ": ")
    lines = (html.unescape(_TAGS.sub("", line)) for line in main.splitlines())
    return [" ".join(line.split()) for line in lines if line.strip()]
