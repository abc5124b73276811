"""«Мои обращения» and the operators' queue: order, filters, cursor pages, counted totals;
and the production calendar an admin keeps."""

from __future__ import annotations

from datetime import UTC, datetime

from .conftest import ApplicationsApp, Clock, person, started
from .journey import complete_draft, submitted
from .test_drafts import fields

# Why an operator opens the queue (percent-encoded UTF-8, as API.md's clients send it).
REASON = {"X-Access-Reason": "%D0%9E%D1%87%D0%B5%D1%80%D0%B5%D0%B4%D1%8C"}  # «Очередь»


async def test_the_queue_is_oldest_due_first_paged_by_cursor_and_counted() -> None:
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async for service in started(clock):
        ids = []
        for day in (2, 3, 4, 5, 6):  # one a day: each due a day later
            clock.current = datetime(2026, 3, day, 9, 0, tzinfo=UTC)
            ids.append((await submitted(service))["id"])
        citizen = service.ready_citizen()
        await complete_draft(service, citizen)  # a draft is never in the queue
        operator = person("operator")
        async with service.client(operator) as http:
            took = await http.post(f"/api/v1/applications/{ids[1]}/take")
            assert took.status_code == 200
            pages, cursor = [], None
            while True:
                query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
                page = (await http.get(f"/api/v1/applications{query}", headers=REASON)).json()
                pages.append([i["id"] for i in page["items"]])
                assert page["total"] == 5
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            in_review = (
                await http.get("/api/v1/applications?status=in_review", headers=REASON)
            ).json()
            submitted_only = (
                await http.get("/api/v1/applications?status=submitted", headers=REASON)
            ).json()
            bad = await http.get("/api/v1/applications?cursor=%%%", headers=REASON)
            drafts = await http.get("/api/v1/applications?status=draft", headers=REASON)
            unknown = await http.get("/api/v1/applications?status=lost", headers=REASON)
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert [i["id"] for i in in_review["items"]] == [ids[1]]
    assert in_review["total"] == 1
    assert submitted_only["total"] == 4
    assert in_review["items"][0]["status_label"] == "В обработке"
    assert bad.status_code == 422
    assert fields(bad.json()) == {"cursor"}
    assert drafts.status_code == 422
    assert fields(drafts.json()) == {"status"}
    assert unknown.status_code == 422


async def test_a_citizen_sees_only_their_own_newest_first(service: ApplicationsApp) -> None:
    citizen, other = service.ready_citizen(), service.ready_citizen()
    first = await complete_draft(service, citizen)
    second = await submitted(service, citizen)
    await submitted(service, other)
    async with service.client(citizen) as http:
        mine = (await http.get("/api/v1/applications")).json()
        one = (await http.get("/api/v1/applications?limit=1")).json()
        rest = (await http.get(f"/api/v1/applications?limit=1&cursor={one['next_cursor']}")).json()
        filtered = await http.get("/api/v1/applications?status=submitted")
    assert [i["id"] for i in mine["items"]] == [second["id"], first["id"]]
    assert mine["total"] == 2
    assert [i["id"] for i in one["items"] + rest["items"]] == [second["id"], first["id"]]
    assert rest["next_cursor"] is None
    assert filtered.status_code == 422
    assert mine["items"][0]["last_changed_at"]
    assert mine["items"][0]["number"]


async def test_the_queue_needs_a_reason_and_each_application_shown_is_logged() -> None:
    async for service in started(Clock()):  # its own database: the queue is this test's
        citizen = service.ready_citizen()
        application = await submitted(service, citizen)
        operator = person("operator")
        async with service.client(operator) as http:
            no_reason = await http.get("/api/v1/applications")
            queue = await http.get("/api/v1/applications", headers=REASON)
        async with service.client(citizen) as http:
            own = await http.get("/api/v1/applications")  # the applicant's: no reason, as before
        # What this test is about; the journal adds its own fields (trace id, seal).
        shown = ["application_id", "owner_id", "actor_id", "actor_role", "action", "reason"]
        projection = {"_id": 0, **dict.fromkeys(shown, 1)}
        log = await service.store.access_log.collection.find({}, projection).to_list()
    assert no_reason.status_code == 422
    assert no_reason.headers["content-type"] == "application/problem+json"
    assert fields(no_reason.json()) == {"X-Access-Reason"}
    assert queue.status_code == 200
    assert [i["id"] for i in queue.json()["items"]] == [application["id"]]
    assert [i["id"] for i in own.json()["items"]] == [application["id"]]
    assert log == [  # the refused list and the applicant's own are not logged
        {
            "application_id": application["id"],
            "owner_id": citizen.user_id,
            "actor_id": operator.user_id,
            "actor_role": "operator",
            "action": "list",
            "reason": "Очередь",
        }
    ]


async def test_lists_are_for_applicants_and_operators(service: ApplicationsApp) -> None:
    for role in ("employer", "medical_worker", "admin"):
        async with service.client(person(role)) as http:
            assert (await http.get("/api/v1/applications", headers=REASON)).status_code == 403
    async with service.client() as anonymous:
        assert (await anonymous.get("/api/v1/applications")).status_code == 401


async def test_counters_repair_to_the_stored_truth(service: ApplicationsApp) -> None:
    await submitted(service)
    await service.store.counters.update_one({"_id": "lane:open"}, {"$set": {"n": 999}})
    await service.store.recount()
    real = await service.store.applications.count_documents({"lanes": "open"})
    assert await service.store.total("open") == real


async def test_an_admin_declares_a_peak_period_and_the_deadline_follows() -> None:
    clock = Clock(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))  # Monday
    async for service in started(clock):
        admin = person("admin")
        async with service.client(admin) as http:
            bad = await http.put(
                "/api/v1/applications/calendar",
                json={
                    "peak_periods": [{"start": "2026-01-31", "end": "2026-01-01"}],
                    "overrides": [
                        {"date": "2026-01-13", "working": False},
                        {"date": "2026-01-13", "working": True},
                    ],
                },
            )
            saved = await http.put(
                "/api/v1/applications/calendar",
                json={
                    "peak_periods": [{"start": "2026-01-12", "end": "2026-01-31"}],
                    "overrides": [{"date": "2026-01-13", "working": False}],
                },
            )
            read = await http.get("/api/v1/applications/calendar")
        async with service.client(person("operator")) as http:
            forbidden = await http.put("/api/v1/applications/calendar", json={})
        application = await submitted(service)
    assert bad.status_code == 422
    assert fields(bad.json()) == {"peak_periods.0.end", "overrides.1.date"}
    assert saved.status_code == 200
    assert read.json()["updated_by"] == admin.user_id
    assert forbidden.status_code == 403
    # 15 working days from 12.01, with 13.01 declared a day off: 14.01 … 03.02.
    assert application["due_date"] == "2026-02-03"
