"""50 citizens through the whole journey at once, on the full platform (all five services as
processes, each on its own port): register and confirm both contacts, log in with the SMS
code, personal data, two scans, an application submitted; five operators take, verify and
approve them; the book is issued. Reported (``load.json``): journeys per minute, p50/p99 of
each step, the SMS and in-app notifications each citizen got — 0 lost, 0 duplicated — the
state changes of each application (none twice), and each service's peak RSS.

Codes and messages are read the way the demo reads them (the SMS spool and the Maildir),
but tailed once for everybody: fifty readers re-reading the whole spool would load the
machine more than the platform does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mailbox
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from secrets import randbelow
from typing import Any, TypeVar

import httpx

from benchmarks.foundation import percentiles
from emk_devstack.demo import CODE, scan_pdf, valid_snils
from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack

T = TypeVar("T")
Doc = dict[str, Any]

CITIZENS = 50
OPERATORS = 5
WAIT_SECONDS = 180.0
REASON = {"X-Access-Reason": "%D0%9D%D0%B0%D0%B3%D1%80%D1%83%D0%B7%D0%BA%D0%B0"}  # «Нагрузка»
EMPLOYER = {
    "inn": "7710543822", "ogrn": "1197746318527", "org_type": "head_office",
    "ownership": "private", "position": "Повар", "department": "Кухня",
}  # fmt: skip


class BenchError(RuntimeError):
    pass


async def until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise BenchError(f"waited {WAIT_SECONDS:.0f} s for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Deliveries:
    """Every SMS and e-mail the stack delivered, by destination, tailed incrementally."""

    var_dir: Path
    texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _offset: int = 0
    _seen_mail: set[str] = field(default_factory=set)

    def read(self) -> None:
        spool = self.var_dir / "sms.jsonl"
        if spool.exists():
            with spool.open("rb") as lines:
                lines.seek(self._offset)
                chunk = lines.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for raw in complete.splitlines():
                if raw.strip():
                    line = json.loads(raw)
                    self.texts[line["to"]].append(line["text"])
        folder = self.var_dir / "mail"
        if folder.exists():
            box = mailbox.Maildir(folder, create=False)
            for key in sorted(set(box.keys()) - self._seen_mail):
                self._seen_mail.add(key)
                message = box[key]
                plain = [p for p in message.walk() if p.get_content_type() == "text/plain"]
                body = (plain[0] if plain else message).get_payload(decode=True)
                text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
                self.texts[str(message["To"]).strip("<> ")].append(text)

    async def run(self) -> None:
        while True:
            self.read()
            await asyncio.sleep(0.05)

    def count(self, to: str) -> int:
        return len(self.texts.get(to, ()))

    async def code(self, to: str, after: int) -> str:
        async def arrived() -> str | None:
            codes = [m.group(1) for t in self.texts.get(to, [])[after:] if (m := CODE.search(t))]
            return codes[-1] if codes else None

        return await until(arrived, "a one-time code")


@dataclass
class Load:
    stack: Stack
    http: httpx.AsyncClient
    delivered: Deliveries
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unavailable: int = 0  # 503s answered (each retried after its Retry-After)

    def url(self, service: str, path: str) -> str:
        return f"{self.stack.service_url(service)}/api/v1/{service}{path}"

    async def call(
        self, method: str, service: str, path: str, *, token: str | None = None,
        expect: int = 200, **kwargs: Any,
    ) -> Any:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        for _ in range(6):  # as a client does: a 503 says when to come back (Retry-After)
            answer = await self.http.request(
                method, self.url(service, path), headers=headers, **kwargs
            )
            if answer.status_code != 503:
                break
            self.unavailable += 1
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
        if answer.status_code != expect:
            raise BenchError(
                f"{method} {service}{path}: {answer.status_code} (expected {expect}): "
                f"{answer.text[:300]}"
            )
        return answer.json() if answer.content else None

    async def step(self, name: str, work: Awaitable[T]) -> T:
        started = time.perf_counter()
        result = await work
        self.steps[name].append(time.perf_counter() - started)
        return result

    async def login(self, login: str, password: str, code_to: str) -> str:
        self.delivered.read()  # up to date before counting: the code must be a new one
        before = self.delivered.count(code_to)
        body = {"login": login, "password": password}
        challenge = await self.call("POST", "identity", "/login", json=body)
        code = await self.delivered.code(code_to, before)
        answer = {"challenge_id": challenge["challenge_id"], "code": code}
        tokens = await self.call("POST", "identity", "/login/verify", json=answer)
        return str(tokens["access_token"])

    # --- a citizen -----------------------------------------------------------------------

    async def citizen(self, n: int) -> Doc:
        person = {
            "last_name": "Нагрузова", "first_name": "Анна", "birth_date": "1991-04-12",
            "sex": "F", "phone": f"+79{randbelow(10**9):09d}",
            "email": f"load.{n}.{uuid.uuid4().hex[:8]}@example.ru",
            "password": "Нагрузка-по-полной-2026", "snils": valid_snils(),
        }  # fmt: skip
        phone, email = person["phone"], person["email"]
        user = await self.step(
            "register", self.call("POST", "identity", "/register", json=person, expect=201)
        )
        for channel, to in (("sms", phone), ("email", email)):
            await self.step(f"confirm_{channel}", self._confirm(user["user_id"], channel, to))
        token = await self.step("login", self.login(email, person["password"], phone))
        await self.step("personal_data", self.call(
            "PUT", "identity", "/me/personal-data", token=token, json={
                "passport": {"series": "4509", "number": f"{randbelow(10**6):06d}",
                             "issued_at": "2012-06-01", "issued_by": "ОВД района",
                             "division_code": "770-001"},
                "birth_place": "г. Москва",
                "registration_address": {"region_code": "77", "locality": "г. Москва",
                                         "street": "ул. Тверская", "house": "7"},
            }))  # fmt: skip
        documents = {}
        for kind in ("passport", "oms_policy"):
            uploaded = await self.step("upload", self.call(
                "POST", "documents", "", token=token, expect=201,
                files={"file": (f"{kind}.pdf", scan_pdf(f"{kind} {n}"), "application/pdf")},
                data={"kind": kind},
            ))  # fmt: skip
            documents[kind] = uploaded["id"]
        submitted = await self.step("apply", self._apply(token, documents))
        return {"phone": phone, "token": token, "documents": documents, **submitted}

    async def _confirm(self, user_id: str, channel: str, to: str) -> None:
        code = await self.delivered.code(to, 0)
        body = {"user_id": user_id, "channel": channel, "code": code}
        await self.call("POST", "identity", "/contacts/verify", json=body)

    async def _apply(self, token: str, documents: dict[str, str]) -> Doc:
        draft = await self.call("POST", "applications", "", token=token, expect=201, json={
            "employer": EMPLOYER, "oms_policy": "7700000000000008",
            "consent_personal_data": True,
        })  # fmt: skip
        for kind, document_id in documents.items():
            await self.call(
                "POST", "applications", f"/{draft['id']}/documents", token=token,
                json={"document_id": document_id, "kind": kind},
            )  # fmt: skip
        submitted = await self.call("POST", "applications", f"/{draft['id']}/submit", token=token)
        return {"application": draft["id"], "number": submitted["number"]}

    # --- operators -------------------------------------------------------------------------

    async def operator(self, admin: str) -> str:
        email = f"load.operator.{uuid.uuid4().hex[:8]}@example.ru"
        await self.call("POST", "identity", "/staff", token=admin, expect=201, json={
            "role": "operator", "last_name": "Нагрузов", "first_name": "Олег", "email": email,
            "phone": f"+79{randbelow(10**9):09d}", "password": "Операторская-нагрузка-2026",
        })  # fmt: skip
        return await self.login(email, "Операторская-нагрузка-2026", email)

    async def review(self, operator: str, application: Doc) -> None:
        path = f"/{application['application']}"
        await self.step("take", self.call("POST", "applications", f"{path}/take", token=operator))
        for document_id in application["documents"].values():
            await self.step("verify_document", self.call(
                "POST", "documents", f"/{document_id}/verify", token=operator, headers=REASON
            ))  # fmt: skip

        async def approved() -> Doc | None:
            answer = await self.http.post(
                self.url("applications", f"{path}/approve"),
                headers={"Authorization": f"Bearer {operator}"},
            )
            return dict(answer.json()) if answer.status_code == 200 else None

        await self.step("approve", until(approved, "an approval"))


async def run(stack: Stack) -> dict[str, Any]:
    delivered = Deliveries(stack.var_dir)
    tail = asyncio.create_task(delivered.run())
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    try:
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            load = Load(stack, http, delivered)
            env = stack.env
            admin = await load.login(
                env["EMK_BOOTSTRAP_ADMIN_EMAIL"], env["EMK_BOOTSTRAP_ADMIN_PASSWORD"],
                env["EMK_BOOTSTRAP_ADMIN_EMAIL"],
            )  # fmt: skip
            operators = await asyncio.gather(*(load.operator(admin) for _ in range(OPERATORS)))
            started = time.perf_counter()
            applications = await asyncio.gather(*(load.citizen(n) for n in range(CITIZENS)))
            submitted_at = time.perf_counter()
            queue: asyncio.Queue[Doc] = asyncio.Queue()
            for application in applications:
                queue.put_nowait(application)

            async def operator_works(token: str) -> None:
                while not queue.empty():
                    await load.review(token, queue.get_nowait())

            await asyncio.gather(*(operator_works(token) for token in operators))
            told = await load.step("approval_sms_all", _all_told(delivered, applications))
            finished = time.perf_counter()
            checks = await _checked(load, applications)
    finally:
        tail.cancel()
    return {
        "citizens": CITIZENS,
        "operators": OPERATORS,
        "journeys_per_minute": round(CITIZENS / (finished - started) * 60, 1),
        "wall_seconds": {
            "citizens_to_submitted": round(submitted_at - started, 1),
            "review_to_every_sms": round(finished - submitted_at, 1),
            "total": round(finished - started, 1),
        },
        "steps": {name: {**percentiles(t), "n": len(t)} for name, t in load.steps.items()},
        "approval_sms": told,
        "answered_503_then_retried": load.unavailable,
        **checks,
        "peak_rss_mb": _peak_rss(stack),
    }


def _approvals(delivered: Deliveries, application: Doc) -> int:
    """How many SMS told this application's approval."""
    texts = delivered.texts.get(application["phone"], [])
    return sum(1 for t in texts if application["number"] in t and "Одобрено" in t)


async def _all_told(delivered: Deliveries, applications: list[Doc]) -> dict[str, int]:
    async def every() -> dict[str, int] | None:
        counts = {a["number"]: _approvals(delivered, a) for a in applications}
        return counts if all(counts.values()) else None

    with contextlib.suppress(BenchError):  # reported below as lost, not a crash of the bench
        await until(every, "the approval SMS of every application")
    # A duplicate would come right after the first: watch a little longer.
    await asyncio.sleep(2)
    delivered.read()
    counts = [_approvals(delivered, a) for a in applications]
    return {
        "received": sum(1 for c in counts if c),
        "lost": sum(1 for c in counts if c == 0),
        "duplicated": sum(1 for c in counts if c > 1),
    }


async def _checked(load: Load, applications: list[Doc]) -> dict[str, Any]:
    """Each application's history (no state change twice), its in-app notifications (one per
    status change, none twice) and the book issued."""
    repeated_changes = repeated_notes = books = 0
    for application in applications:
        token = application["token"]
        shown = await load.call(
            "GET", "applications", f"/{application['application']}", token=token
        )
        # The history also holds steps that keep the status (documents attached to a draft):
        # a state change is a step to another status, and none may happen twice.
        statuses = [h["status"] for h in shown["history"]]
        changes = Counter((a, b) for a, b in itertools.pairwise(statuses) if a != b)
        repeated_changes += sum(c - 1 for c in changes.values())
        page = await load.call("GET", "notifications", "?limit=100", token=token)
        kinds = Counter(n["status"] for n in page["items"] if n.get("status"))
        repeated_notes += sum(c - 1 for c in kinds.values() if c > 1)

        async def issued(token: str = token) -> bool | None:
            answer = await load.http.get(
                load.url("records", "/book"), headers={"Authorization": f"Bearer {token}"}
            )
            return True if answer.status_code == 200 else None

        books += bool(await until(issued, "the book"))
    return {
        "duplicated_state_changes": repeated_changes,
        "duplicated_in_app_notifications": repeated_notes,
        "books_issued": books,
    }


def _peak_rss(stack: Stack) -> dict[str, float]:
    """Each service's peak resident memory (the kernel's high-water mark, VmHWM)."""
    peaks: dict[str, float] = {}
    for child in stack.children:
        if child.name not in SERVICES:
            continue
        status = Path(f"/proc/{child.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        peaks[child.name] = round(kib / 1024, 1)
    return peaks
