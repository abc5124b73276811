"""``make demo``: the whole journey through the HTTP APIs of a running ``make run``.

A citizen registers, confirms both contacts, logs in with a second factor, saves personal
data, uploads two scans, drafts and submits an application; an operator (made by the
bootstrap admin) takes it, asks for a clarification, the citizen answers, the operator
verifies the documents and approves; the book is then issued and a medical worker fills it in
(``demo_book.py``). Each step is printed with the statuses and the
notifications the citizen received — codes are read where the local stack delivers them
(``$EMK_VAR_DIR/sms.jsonl`` and the Maildir), exactly as a person would read their phone.

The end-to-end suite runs this same journey against the platform it starts.
"""

from __future__ import annotations

import asyncio
import json
import mailbox
import os
import re
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from secrets import randbelow
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from emk_devstack.demo_book import share_the_book, the_book
from emk_devstack.ports import HOST, SERVICES, Ports
from emk_devstack.secrets import load_or_create

if TYPE_CHECKING:
    from emk_devstack.stack import Stack

T = TypeVar("T")
# A one-time code as the notifications' texts carry it («Код для входа в ЭМК: 482913.»): not
# any six digits — a status SMS's application number («2026-000123») has six too.
CODE = re.compile(r"Код[^:\n]{0,40}:\s*(\d{6})\b")


class DemoError(RuntimeError):
    """A step did not go as the platform promises; the message says which."""


async def waiting(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30) -> T:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise DemoError(f"waited {within:.0f} s for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Delivered:
    """Where the local stack delivers SMS and e-mail (API.md: local stack conventions)."""

    var_dir: Path

    def sms(self, phone: str) -> list[str]:
        spool = self.var_dir / "sms.jsonl"
        if not spool.exists():
            return []
        lines = [json.loads(x) for x in spool.read_text(encoding="utf-8").splitlines() if x]
        return [line["text"] for line in lines if line["to"] == phone]

    def messages(self, address: str) -> list[Message]:
        """The mail to ``address``, oldest first."""
        folder = self.var_dir / "mail"
        if not folder.exists():
            return []
        box = mailbox.Maildir(folder, create=False)
        # A Maildir lists in no particular order: sort by delivery time.
        found = sorted(
            (message.get_date(), key, message)
            for key, message in box.iteritems()
            if address in str(message["To"])
        )
        return [message for _, _, message in found]

    def mail(self, address: str) -> list[str]:
        return [_text_of(message) for message in self.messages(address)]

    async def code(self, to: str, after: int) -> str:
        read = self.sms if to.startswith("+") else self.mail

        async def arrived() -> str | None:
            codes = [found.group(1) for text in read(to)[after:] if (found := CODE.search(text))]
            return codes[-1] if codes else None

        return await waiting(arrived, f"a one-time code to {_mask(to)}")

    def count(self, to: str) -> int:
        return len(self.sms(to) if to.startswith("+") else self.mail(to))


def _text_of(message: Message) -> str:
    """The plain text: the whole message, or its text/plain part (a letter is text + HTML)."""
    plain = [part for part in message.walk() if part.get_content_type() == "text/plain"]
    body = (plain[0] if plain else message).get_payload(decode=True)
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def _mask(contact: str) -> str:
    return contact[:3] + "…" + contact[-2:]


def scan_pdf(title: str) -> bytes:
    """A one-page A5 PDF, as a scanner makes it (hand-built: no PDF library needed)."""
    content = zlib.compress(f"BT /F1 14 Tf 40 540 Td ({title}) Tj ET".encode())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def valid_snils() -> str:
    """A random СНИЛС with a correct check number (DOMAIN.md's rule)."""
    while True:
        digits = [randbelow(10) for _ in range(9)]
        if int("".join(map(str, digits))) > 1_001_998:
            break
    total = sum(d * (9 - i) for i, d in enumerate(digits))
    check = total if total < 100 else 0 if total in (100, 101) else total % 101
    body = "".join(map(str, digits))
    return f"{body[:3]}-{body[3:6]}-{body[6:]} {0 if check == 100 else check:02d}"


@dataclass
class Journey:
    """The demo's steps; ``say`` prints them (the tests collect them instead)."""

    urls: dict[str, str]
    var_dir: Path
    admin_email: str
    admin_password: str
    say: Callable[[str], None] = print
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))
    record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def on(cls, stack: Stack, say: Callable[[str], None] = print) -> Journey:
        """The journey against a stack this process started (tests, benchmarks): through its
        gateway when it runs one, as the frontend goes."""
        env = stack.env
        through = stack.gateway_url if stack.is_running("gateway") else None
        return cls(
            {service: through or stack.service_url(service) for service in SERVICES},
            stack.var_dir,
            env["EMK_BOOTSTRAP_ADMIN_EMAIL"],
            env["EMK_BOOTSTRAP_ADMIN_PASSWORD"],
            say=say,
        )

    def url(self, service: str, path: str) -> str:
        return f"{self.urls[service]}/api/v1/{service}{path}"

    async def call(
        self, method: str, service: str, path: str, *, token: str | None = None,
        expect: int = 200, **kwargs: Any,
    ) -> Any:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        answer = await self.http.request(method, self.url(service, path), headers=headers, **kwargs)
        if answer.status_code != expect:
            raise DemoError(
                f"{method} {service}{path}: expected {expect}, got {answer.status_code}: "
                f"{answer.text[:500]}"
            )
        return answer.json() if answer.content else None

    async def login(self, login: str, password: str, code_to: str) -> str:
        delivered = Delivered(self.var_dir)
        before = delivered.count(code_to)
        challenge = await self.call(
            "POST", "identity", "/login", json={"login": login, "password": password}
        )
        code = await delivered.code(code_to, before)
        tokens = await self.call(
            "POST", "identity", "/login/verify",
            json={"challenge_id": challenge["challenge_id"], "code": code},
        )  # fmt: skip
        return str(tokens["access_token"])

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            await self.http.aclose()

    async def _run(self) -> dict[str, Any]:
        say, delivered = self.say, Delivered(self.var_dir)
        person = {
            "last_name": "Иванова", "first_name": "Мария", "middle_name": "Сергеевна",
            "birth_date": "1990-05-17", "sex": "F",
            "phone": f"+79{randbelow(1_000_000_000):09d}",
            "email": f"maria.{uuid.uuid4().hex[:8]}@example.ru",
            "password": "Снег-на-крыше-2026", "snils": valid_snils(),
        }  # fmt: skip
        phone, email = person["phone"], person["email"]

        say("1. The citizen registers (identity)")
        sms_before, mail_before = delivered.count(phone), delivered.count(email)
        user = await self.call("POST", "identity", "/register", json=person, expect=201)
        say(f"   user {user['user_id']}: {user['status']}")
        for channel, to, before in (("sms", phone, sms_before), ("email", email, mail_before)):
            code = await delivered.code(to, before)
            confirmed = await self.call(
                "POST", "identity", "/contacts/verify",
                json={"user_id": user["user_id"], "channel": channel, "code": code},
            )  # fmt: skip
            say(f"   {channel} confirmed with the code it received: {confirmed['status']}")

        say("2. Two-factor login: password, then the code sent by SMS")
        citizen = await self.login(email, person["password"], phone)
        say("3. Personal data, checked against the registries")
        me = await self.call("PUT", "identity", "/me/personal-data", token=citizen, json={
            "passport": {"series": "4509", "number": f"{randbelow(1_000_000):06d}",
                         "issued_at": "2012-06-01", "issued_by": "ОВД Тверского района г. Москвы",
                         "division_code": "770-001"},
            "birth_place": "г. Москва",
            "registration_address": {"region_code": "77", "locality": "г. Москва",
                                     "street": "ул. Тверская", "house": "7", "flat": "12"},
        })  # fmt: skip
        say(f"   account: {me['status']}")

        say("4. Two scans are uploaded (documents: scanned by ClamAV, encrypted in S3)")
        uploaded = {}
        for kind, title in (("passport", "Passport"), ("oms_policy", "OMS policy")):
            document = await self.call(
                "POST", "documents", "", token=citizen, expect=201,
                files={"file": (f"{kind}.pdf", scan_pdf(title), "application/pdf")},
                data={"kind": kind},
            )  # fmt: skip
            uploaded[kind] = document["id"]
            say(f"   {kind}: {document['status']} «На проверке», sha256 {document['sha256'][:12]}…")

        say("5. The application: a draft, the documents attached, submitted")
        draft = await self.call("POST", "applications", "", token=citizen, expect=201, json={
            "employer": {"inn": "7710543822", "ogrn": "1197746318527", "org_type": "head_office",
                         "ownership": "private", "position": "Повар", "department": "Кухня"},
            "oms_policy": "7700000000000008",
            "consent_personal_data": True,
        }, headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
        say(f"   draft {draft['id']}; employer from ЕГРЮЛ: {draft['employer']['name']}")
        for kind, document_id in uploaded.items():
            await self.call(
                "POST", "applications", f"/{draft['id']}/documents", token=citizen,
                json={"document_id": document_id, "kind": kind},
            )  # fmt: skip
        submitted = await self.call("POST", "applications", f"/{draft['id']}/submit", token=citizen)
        number = submitted["number"]
        say(f"   № {number}: «{submitted['status_label']}», due {submitted['due_date']}")
        application = f"/{draft['id']}"

        say("6. The admin makes an operator, who logs in with a code by e-mail")
        admin = await self.login(self.admin_email, self.admin_password, self.admin_email)
        staff_email = f"operator.{uuid.uuid4().hex[:8]}@example.ru"
        await self.call("POST", "identity", "/staff", token=admin, expect=201, json={
            "role": "operator", "last_name": "Смирнов", "first_name": "Олег",
            "email": staff_email, "phone": f"+79{randbelow(1_000_000_000):09d}",
            "password": "Операторский-пароль-2026",
        })  # fmt: skip
        operator = await self.login(staff_email, "Операторский-пароль-2026", staff_email)

        say("7. The operator's queue, take, and a request for clarification")
        # Staff state why they look at citizens' data (API.md): «Проверка», percent-encoded.
        reason = {"X-Access-Reason": "%D0%9F%D1%80%D0%BE%D0%B2%D0%B5%D1%80%D0%BA%D0%B0"}
        queue = await self.call(
            "GET", "applications", "?status=submitted", token=operator, headers=reason
        )
        say(f"   queue: {queue['total']} submitted, oldest due first")
        taken = await self.call("POST", "applications", f"{application}/take", token=operator)
        say(f"   «{taken['status_label']}»")
        asked = await self.call(
            "POST", "applications", f"{application}/request-clarification", token=operator,
            json={"comment": "Скан паспорта нечитаем, загрузите разворот с фотографией.",
                  "documents": ["passport"]},
        )  # fmt: skip
        say(f"   «{asked['status_label']}», answer by {asked['answer_due']}")

        say("8. The citizen uploads a new passport scan and answers")
        better = await self.call(
            "POST", "documents", "", token=citizen, expect=201,
            files={"file": ("passport.pdf", scan_pdf("Passport, page 2-3"), "application/pdf")},
            data={"kind": "passport"},
        )  # fmt: skip
        uploaded["passport"] = better["id"]
        await self.call(
            "POST", "applications", f"{application}/documents", token=citizen,
            json={"document_id": better["id"], "kind": "passport"},
        )  # fmt: skip
        answered = await self.call(
            "POST", "applications", f"{application}/resubmit", token=citizen,
            json={"comment": "Загрузила новый скан."},
        )  # fmt: skip
        say(f"   «{answered['status_label']}»")

        say("9. The operator verifies both documents and approves")
        for document_id in uploaded.values():
            await self.call("GET", "documents", f"/{document_id}", token=operator, headers=reason)
            await self.call("POST", "documents", f"/{document_id}/verify", token=operator)

        async def approved() -> dict[str, Any] | None:
            answer = await self.http.post(
                self.url("applications", f"{application}/approve"),
                headers={"Authorization": f"Bearer {operator}"},
            )
            return dict(answer.json()) if answer.status_code == 200 else None

        final = await waiting(approved, "the approval (documents verified, learned from events)")
        say(f"   «{final['status_label']}»")

        say("10. What the citizen was told")

        async def all_told() -> list[dict[str, Any]] | None:
            page = await self.call("GET", "notifications", "?limit=50", token=citizen)
            statuses = [n.get("status") for n in page["items"]]
            return list(page["items"]) if "approved" in statuses else None

        notes = await waiting(all_told, "the in-app notification of the approval")
        for note in reversed(notes):
            say("   in-app: " + note["text"].replace("\n", " "))

        async def approval_sms() -> list[str] | None:
            texts = [t for t in delivered.sms(phone) if number in t]
            return texts if any("Одобрено" in t for t in texts) else None

        sms = await waiting(approval_sms, "the SMS about the approval")
        for text in sms:
            say(f"   SMS: {text}")
        history = [f"{h['status_label']}" for h in final["history"]]
        say("   history: " + " → ".join(history))
        book = await the_book(self, citizen=citizen, admin=admin, application=application)
        shared = await share_the_book(self, citizen=citizen, admin=admin)
        seen = await self.who_saw(citizen)
        self.record = {
            "number": number,
            "statuses": [h["status"] for h in final["history"]],
            "sms": sms,
            "notifications": notes,
            "citizen_phone": phone,
            "citizen_email": email,
            "citizen_token": citizen,
            **book,
            **shared,
            "access_log": seen,
        }
        return self.record

    async def who_saw(self, citizen: str) -> list[dict[str, Any]]:
        """Step 19: the citizen's "who saw my data" across the services — waiting (with a
        deadline) until the operator's reads, the medical worker's record and the check with
        the share code have arrived: each service publishes its sealed accesses every second
        or so, and identity keeps them."""
        say = self.say
        say("19. Who saw my data (identity, from every service's audit journal)")

        def arrived(items: list[dict[str, Any]]) -> bool:
            seen = {(i["service"], i["actor"]["role"]) for i in items}
            return {
                ("applications", "operator"),
                ("records", "medical_worker"),
                ("records", "share_code"),
            } <= seen

        async def every_access() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = []
            before: str | None = None
            while True:
                params = {"limit": 100, **({"before": before} if before else {})}
                page = await self.call("GET", "identity", "/me/access-log", token=citizen,
                                       params=params)  # fmt: skip
                items.extend(page["items"])
                before = page["next"]
                if before is None:
                    return items if arrived(items) else None

        items = await waiting(every_access, "the accesses in the citizen's log", within=60)
        for item in items:
            who = item["actor"]["role_label"]
            if item["actor"]["name"]:
                who += f" {item['actor']['name']}"
            if item["actor"]["organization_id"]:
                who += f" (организация {item['actor']['organization_id']})"
            reason = item["reason"] or ("причина недоступна" if item["reason_unavailable"] else "")
            say(f"   {item['at'][:19]} {item['service_label']}: {who} — "
                f"{item['action_label']} ({item['resource_label']})"
                + (f"; причина: {reason}" if reason else ""))  # fmt: skip
        return list(items)


def urls_from_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Every service through the gateway (``EMK_GATEWAY_URL``, or its local port), as the
    frontend goes; ``EMK_DEMO_DIRECT=1`` calls each service on its own port instead."""
    environ = dict(os.environ if environ is None else environ)
    ports = Ports.fixed(environ)
    if environ.get("EMK_DEMO_DIRECT") != "1":
        gateway = environ.get("EMK_GATEWAY_URL") or f"http://{HOST}:{ports.gateway}"
        return dict.fromkeys(SERVICES, gateway)
    return {
        service: environ.get(f"{service.upper()}_URL") or f"http://{HOST}:{ports.of(service)}"
        for service in ("identity", "applications", "documents", "records", "notifications")
    }


def main() -> int:
    var_dir = Path(os.environ.get("EMK_VAR_DIR", "var"))
    secrets = load_or_create(var_dir / "secrets")
    journey = Journey(urls_from_environment(), var_dir, secrets.admin_email, secrets.admin_password)
    try:
        asyncio.run(journey.run())
    except (DemoError, httpx.HTTPError) as exc:
        print(f"demo stopped: {exc}\nIs `make run` running?", file=sys.stderr)
        return 1
    print("The whole journey went through.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
