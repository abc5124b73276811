"""In-app notifications and preferences through the HTTP API, on the real MongoDB.

Status changes are handed to the service's handler through the real inbox, exactly as the
Kafka consumer does (the end-to-end suite sends them through Kafka).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from emk_common.catalog import ApplicationStatusChanged
from emk_common.events import Envelope
from emk_common.inbox import Inbox

from .conftest import NotificationsApp, Person, citizen

URL = "/api/v1/notifications"
HANDLER = "notifications.application_status"
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
DEFAULTS = {"sms": True, "email": True, "reminders_days_before": [30, 7]}
# What GET shows of them: no window of one's own, the settings' zone (no region known).
SHOWN = {**DEFAULTS, "quiet_hours": None, "time_zone": "Europe/Moscow"}


# How the applications service names its statuses and documents in its events.
STATUS_LABELS = {
    "submitted": "Принято",
    "in_review": "В обработке",
    "clarification_requested": "Требуется уточнение",
    "approved": "Одобрено",
    "rejected": "Отклонено",
}
DOCUMENT_LABELS = {"passport": "Скан паспорта"}


def changed(who: Person, status: str = "clarification_requested", **rest: Any) -> Envelope:
    documents = rest.pop("documents", [])
    event = ApplicationStatusChanged(
        application_id=rest.pop("application_id", uuid.uuid4().hex),
        applicant_id=who.user_id,
        number=rest.pop("number", "2026-000001"),
        status=status,
        status_label=STATUS_LABELS[status],
        documents=documents,
        document_labels={kind: DOCUMENT_LABELS[kind] for kind in documents},
        **rest,
    )
    return Envelope.wrap(event, source="applications", subject=event.application_id)


async def deliver(app: NotificationsApp, envelope: Envelope) -> bool:
    """Through the inbox, as the consumer does; True if the handler's effect was applied.
    A second after the one before, so the order of notifications is certain."""
    app.clock.advance(seconds=1)
    runtime = app.runtime
    data = ApplicationStatusChanged.model_validate(envelope.data)
    inbox = Inbox(runtime.mongo, runtime.db["inbox"])
    applied: bool = await inbox.apply_once(
        HANDLER, envelope.id, lambda session: app.service.status_changed(data, envelope.id, session)
    )
    return applied


async def listing(http: httpx.AsyncClient, who: Person, **params: Any) -> dict[str, Any]:
    response = await http.get(URL, headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_russian_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert CYRILLIC.search(body["detail"])
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", "/abc/read"), ("GET", "/preferences"), ("PUT", "/preferences")],
)
async def test_every_route_needs_a_signed_in_user(
    notifications: NotificationsApp, method: str, path: str
) -> None:
    async with notifications.client() as http:
        response = await http.request(method, URL + path, json=DEFAULTS)
        assert_russian_problem(response, 401)
        forged = {"Authorization": "Bearer not-a-token"}
        assert (await http.request(method, URL + path, headers=forged)).status_code == 401


async def test_status_changes_are_listed_newest_first_with_the_unread_count(
    notifications: NotificationsApp,
) -> None:
    anna, boris = citizen(), citizen()
    for status in ("submitted", "in_review", "clarification_requested"):
        await deliver(
            notifications,
            changed(anna, status, application_id="app-1", comment="Нужен новый скан",
                    documents=["passport"]),
        )  # fmt: skip
    async with notifications.client() as http:
        page = await listing(http, anna)
        assert [i["status"] for i in page["items"]] == [
            "clarification_requested", "in_review", "submitted",
        ]  # fmt: skip
        assert (page["unread"], page["next_cursor"]) == (3, None)
        newest = page["items"][0]
        assert newest["title"] == "Заявление № 2026-000001: Требуется уточнение"
        assert "Комментарий специалиста: Нужен новый скан" in newest["text"]
        assert "Скан паспорта" in newest["text"]
        assert newest["status_label"] == "Требуется уточнение"
        assert (newest["application_id"], newest["number"], newest["read_at"]) == (
            "app-1", "2026-000001", None,
        )  # fmt: skip
        assert set(newest) == {
            "id", "kind", "title", "text", "application_id", "book_id", "number", "status",
            "status_label", "created_at", "read_at",
        }  # fmt: skip
        # Someone else sees none of it.
        assert await listing(http, boris) == {"items": [], "next_cursor": None, "unread": 0}


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    notifications: NotificationsApp,
) -> None:
    anna = citizen()
    for n in range(5):
        await deliver(notifications, changed(anna, "submitted", number=f"2026-00010{n}"))
    async with notifications.client() as http:
        seen: list[str] = []
        sizes = []
        cursor = None
        while True:
            page = await listing(http, anna, limit=2, **({"cursor": cursor} if cursor else {}))
            sizes.append(len(page["items"]))
            seen += [i["number"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sizes == [2, 2, 1]
        assert seen == [f"2026-00010{n}" for n in reversed(range(5))]
        assert (await listing(http, anna, limit=5))["next_cursor"] is None


async def test_the_page_is_one_index_range(notifications: NotificationsApp) -> None:
    anna = citizen()
    await deliver(notifications, changed(anna))
    db = notifications.runtime.db
    plan = await db.command(
        "explain",
        {"find": "notifications", "filter": {"user_id": anna.user_id}, "sort": {"_id": -1}},
    )
    assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in str(plan)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "двадцать"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "0" * 31}, "cursor"),
    ],
)
async def test_bad_paging_is_a_russian_422_naming_the_parameter(
    notifications: NotificationsApp, params: dict[str, Any], field: str
) -> None:
    async with notifications.client() as http:
        response = await http.get(URL, headers=citizen().headers, params=params)
        body = assert_russian_problem(response, 422)
        [error] = body["errors"]
        assert error["field"] == field
        assert f"«{field}»" in error["message"]
        assert CYRILLIC.search(error["message"])


async def test_reading_is_idempotent_and_only_for_the_owner(
    notifications: NotificationsApp,
) -> None:
    anna, boris = citizen(), citizen()
    await deliver(notifications, changed(anna, "submitted"))
    await deliver(notifications, changed(anna, "in_review"))
    async with notifications.client() as http:
        newest, older = (await listing(http, anna))["items"]

        stranger = await http.post(f"{URL}/{newest['id']}/read", headers=boris.headers)
        assert assert_russian_problem(stranger, 404)["detail"] == "Уведомление не найдено."
        unknown = await http.post(f"{URL}/{uuid.uuid4().hex}/read", headers=anna.headers)
        assert_russian_problem(unknown, 404)
        assert (await listing(http, anna))["unread"] == 2  # the stranger marked nothing

        first = await http.post(f"{URL}/{newest['id']}/read", headers=anna.headers)
        assert first.status_code == 200, first.text
        assert first.json()["read_at"] is not None
        again = await http.post(f"{URL}/{newest['id']}/read", headers=anna.headers)
        assert again.status_code == 200
        assert again.json() == first.json()  # the first reading time stays
        page = await listing(http, anna)
        assert page["unread"] == 1
        assert [i["read_at"] is None for i in page["items"]] == [False, True]
        assert page["items"][1]["id"] == older["id"]


async def test_staff_read_their_own_notifications_too(notifications: NotificationsApp) -> None:
    operator = Person(uuid.uuid4().hex, "operator")
    async with notifications.client() as http:
        assert await listing(http, operator) == {"items": [], "next_cursor": None, "unread": 0}
        preferences = await http.get(f"{URL}/preferences", headers=operator.headers)
        assert preferences.json() == SHOWN


async def test_preferences_start_at_the_defaults_and_are_replaced(
    notifications: NotificationsApp,
) -> None:
    anna = citizen()
    async with notifications.client() as http:
        got = await http.get(f"{URL}/preferences", headers=anna.headers)
        assert (got.status_code, got.json()) == (200, SHOWN)
        wanted = {"sms": False, "email": True, "reminders_days_before": [7, 30, 1]}
        put = await http.put(f"{URL}/preferences", headers=anna.headers, json=wanted)
        assert put.status_code == 200, put.text
        stored = {**SHOWN, "sms": False, "email": True, "reminders_days_before": [30, 7, 1]}
        assert put.json() == stored
        assert (await http.get(f"{URL}/preferences", headers=anna.headers)).json() == stored
        # Another person's preferences are untouched.
        other = await http.get(f"{URL}/preferences", headers=citizen().headers)
        assert other.json() == SHOWN


async def test_quiet_hours_are_chosen_in_the_zone_of_the_address_region(
    notifications: NotificationsApp,
) -> None:
    anna = citizen()
    notifications.directory.regions[anna.user_id] = "54"  # Новосибирская область
    path = f"{URL}/preferences"
    async with notifications.client() as http:
        got = await http.get(path, headers=anna.headers)
        assert got.json() == {**SHOWN, "time_zone": "Asia/Novosibirsk"}
        night = {**DEFAULTS, "quiet_hours": {"start": 22, "end": 7}}
        put = await http.put(path, headers=anna.headers, json=night)
        assert put.status_code == 200, put.text
        assert put.json() == {**night, "time_zone": "Asia/Novosibirsk"}
        assert (await http.get(path, headers=anna.headers)).json() == put.json()
        doc = await notifications.runtime.db["preferences"].find_one({"_id": anna.user_id})
        assert doc is not None
        assert (doc["quiet_hours"], doc["time_zone"]) == (
            {"start": 22, "end": 7}, "Asia/Novosibirsk",
        )  # fmt: skip
        # Left out (or null): back to the default window; the zone stays the region's.
        back = await http.put(path, headers=anna.headers, json=DEFAULTS)
        assert back.json() == {**SHOWN, "time_zone": "Asia/Novosibirsk"}
        nulled = await http.put(path, headers=anna.headers, json={**DEFAULTS, "quiet_hours": None})
        assert nulled.json() == back.json()
        # Equal hours: no window at all, kept as chosen.
        none = await http.put(
            path, headers=anna.headers, json={**DEFAULTS, "quiet_hours": {"start": 0, "end": 0}}
        )
        assert none.json()["quiet_hours"] == {"start": 0, "end": 0}


async def test_a_preferences_document_from_before_the_quiet_hours_still_reads(
    notifications: NotificationsApp,
) -> None:
    boris = citizen()
    old = {"_id": boris.user_id, "sms": False, "email": True, "reminders_days_before": [14]}
    await notifications.runtime.db["preferences"].insert_one(old)
    async with notifications.client() as http:
        got = await http.get(f"{URL}/preferences", headers=boris.headers)
    assert (got.status_code, got.json()) == (
        200, {**SHOWN, "sms": False, "reminders_days_before": [14]},
    )  # fmt: skip


def _with(**changes: Any) -> dict[str, Any]:
    return {**DEFAULTS, **changes}


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in DEFAULTS.items() if k != name}


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        (_with(sms="yes"), {"sms": "type"}),
        (_with(sms=1), {"sms": "type"}),
        (_with(email=None), {"email": "type"}),
        (_without("email"), {"email": "missing"}),
        (_without("reminders_days_before"), {"reminders_days_before": "missing"}),
        (_with(reminders_days_before=[]), {"reminders_days_before": "too_short"}),
        (_with(reminders_days_before=[1, 2, 3, 4, 5, 6]), {"reminders_days_before": "too_long"}),
        (_with(reminders_days_before=[0]), {"reminders_days_before.0": "out_of_range"}),
        (_with(reminders_days_before=[30, 366]), {"reminders_days_before.1": "out_of_range"}),
        (_with(reminders_days_before=[-7]), {"reminders_days_before.0": "out_of_range"}),
        (_with(reminders_days_before=[7, 7]), {"reminders_days_before": "duplicate"}),
        (_with(reminders_days_before=["7"]), {"reminders_days_before.0": "type"}),
        (_with(reminders_days_before=[7.5]), {"reminders_days_before.0": "type"}),
        (_with(reminders_days_before=[True]), {"reminders_days_before.0": "type"}),
        (_with(reminders_days_before=30), {"reminders_days_before": "type"}),
        (_with(push=True), {"push": "unknown_field"}),
        (_with(quiet_hours={"start": 24, "end": 7}), {"quiet_hours.start": "out_of_range"}),
        (_with(quiet_hours={"start": 22, "end": -1}), {"quiet_hours.end": "out_of_range"}),
        (
            _with(quiet_hours={"start": "22", "end": 7.5}),
            {"quiet_hours.start": "type", "quiet_hours.end": "type"},
        ),
        (_with(quiet_hours={"start": 22}), {"quiet_hours.end": "missing"}),
        (
            _with(quiet_hours={"start": 22, "end": 7, "zone": "UTC"}),
            {"quiet_hours.zone": "unknown_field"},
        ),
        (_with(quiet_hours="22-7"), {"quiet_hours": "type"}),
        (
            {"sms": "да", "email": 0, "reminders_days_before": [0, 400]},
            {
                "sms": "type",
                "email": "type",
                "reminders_days_before.0": "out_of_range",
                "reminders_days_before.1": "out_of_range",
            },
        ),
    ],
)
async def test_wrong_preferences_are_refused_naming_each_field_in_russian(
    notifications: NotificationsApp, body: dict[str, Any], wrong: dict[str, str]
) -> None:
    anna = citizen()
    async with notifications.client() as http:
        response = await http.put(f"{URL}/preferences", headers=anna.headers, json=body)
        problem = assert_russian_problem(response, 422)
        assert {e["field"]: e["code"] for e in problem["errors"]} == wrong
        for error in problem["errors"]:
            assert f"«{error['field']}»" in error["message"]
            assert CYRILLIC.search(error["message"])
        assert (await http.get(f"{URL}/preferences", headers=anna.headers)).json() == SHOWN


@pytest.mark.parametrize("body", ["not json", "[]", "null"])
async def test_a_body_that_is_not_an_object_is_refused(
    notifications: NotificationsApp, body: str
) -> None:
    async with notifications.client() as http:
        response = await http.put(
            f"{URL}/preferences",
            headers={**citizen().headers, "Content-Type": "application/json"},
            content=body,
        )
        problem = assert_russian_problem(response, 422)
        assert problem["errors"][0]["field"] == "body"


async def channels_for(app: NotificationsApp, envelope: Envelope) -> list[str]:
    docs = await app.runtime.db["deliveries"].find({"trigger_event_id": envelope.id}).to_list()
    return sorted(d["channel"] for d in docs)


@pytest.mark.parametrize(
    ("sms", "email", "channels"),
    [
        (True, True, ["email", "sms"]),
        (False, True, ["email"]),
        (True, False, ["sms"]),
        (False, False, []),
    ],
)
async def test_the_handler_honours_preferences_and_in_app_is_always_on(
    notifications: NotificationsApp, sms: bool, email: bool, channels: list[str]
) -> None:
    anna = citizen()
    async with notifications.client() as http:
        chosen = _with(sms=sms, email=email)
        assert (await http.put(f"{URL}/preferences", headers=anna.headers, json=chosen)).is_success
        envelope = changed(anna, "approved")
        await deliver(notifications, envelope)
        assert await channels_for(notifications, envelope) == channels
        [item] = (await listing(http, anna))["items"]
        assert item["status_label"] == "Одобрено"


async def test_a_redelivered_event_creates_nothing_new(notifications: NotificationsApp) -> None:
    anna = citizen()
    envelope = changed(anna, "rejected", comment="Истёк срок ответа")
    assert await deliver(notifications, envelope) is True
    assert await deliver(notifications, envelope) is False
    async with notifications.client() as http:
        assert len((await listing(http, anna))["items"]) == 1
    assert await channels_for(notifications, envelope) == ["email", "sms"]


async def test_the_holder_is_told_of_each_new_grant_in_app_and_on_each_channel(
    notifications: NotificationsApp,
) -> None:
    from emk_common.catalog import BookAccessGranted

    anna = citizen()
    event = BookAccessGranted(
        book_id="b1", holder_id=anna.user_id, grant_id=uuid.uuid4().hex,
        organization_id="1027700132195", organization_name="Поликлиника № 1",
        granted_by="w1", expires_at=datetime(2026, 12, 29, 9, tzinfo=UTC), via="identifiers",
    )  # fmt: skip
    envelope = Envelope.wrap(event, source="records", subject="b1")
    runtime = notifications.runtime
    inbox = Inbox(runtime.mongo, runtime.db["inbox"])
    notifications.clock.advance(seconds=1)
    applied = await inbox.apply_once(
        "notifications.book_access", envelope.id,
        lambda session: notifications.service.book_access_granted(event, envelope.id, session),
    )  # fmt: skip
    assert applied
    async with notifications.client() as http:
        [item] = (await listing(http, anna))["items"]
    assert item["kind"] == "book_access"
    assert item["book_id"] == "b1"
    assert "«Поликлиника № 1» получила доступ" in item["text"]
    assert await channels_for(notifications, envelope) == ["email", "sms"]


async def test_the_holder_is_told_their_book_was_checked_once_per_event(
    notifications: NotificationsApp,
) -> None:
    """Through the consumer's own registration (``notifications.book_checked``) and the real
    inbox, as a record from ``emk.records`` would come; the same record again adds nothing."""
    from types import SimpleNamespace

    from emk_common.catalog import ShareChecked

    anna = citizen()
    book_id, share_id = uuid.uuid4().hex, uuid.uuid4().hex
    event = ShareChecked(
        book_id=book_id, holder_id=anna.user_id, share_id=share_id,
        checked_at=datetime(2026, 11, 29, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    envelope = Envelope.wrap(event, source="records", subject=book_id)
    record = SimpleNamespace(value=envelope.to_bytes())
    runtime = notifications.runtime
    for _ in range(2):
        notifications.clock.advance(seconds=1)
        await runtime.consumer.dispatch(runtime.broker, record)
    async with notifications.client() as http:
        body = await listing(http, anna)
    [item] = body["items"]
    assert (item["kind"], item["book_id"]) == ("book_checked", book_id)
    assert item["title"] == "Проверка медицинской книжки"
    assert item["text"].startswith(
        "Вашу медицинскую книжку проверили по коду доступа 29.11.2026 в 12:30 (МСК)."
    )
    assert (item["application_id"], item["status"], item["status_label"]) == (None, None, None)
    assert body["unread"] == 1
    assert await channels_for(notifications, envelope) == ["email", "sms"]
    inbox = await runtime.db["inbox"].find({"event_id": envelope.id}).to_list()
    assert [doc["handler"] for doc in inbox] == ["notifications.book_checked"]
    # What the deliveries keep: ids and the time, never a code.
    for doc in await runtime.db["deliveries"].find({"trigger_event_id": envelope.id}).to_list():
        assert (doc["kind"], doc["book_id"], doc["share_id"]) == ("book_checked", book_id, share_id)
        assert doc["message"] == {"checked_at": "2026-11-29T09:30:00+00:00"}
