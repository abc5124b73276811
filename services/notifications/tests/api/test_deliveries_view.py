"""``GET /deliveries``: what operators see of a person's messages — channel, status, attempts,
why one failed — and never a text, a code or an address; each staff read is logged for the
person with its reason."""

from __future__ import annotations

from typing import Any

from emk_testing import Caller, eventually

from .conftest import NotificationsApp, citizen
from .test_api import assert_russian_problem, changed, deliver

URL = "/api/v1/notifications/deliveries"
REASON = {"X-Access-Reason": "%D0%BE%D0%B1%D1%80%D0%B0%D1%89%D0%B5%D0%BD%D0%B8%D0%B5%20123"}


async def test_an_operator_with_a_reason_sees_a_persons_deliveries_and_the_read_is_logged(
    notifications: NotificationsApp,
) -> None:
    person = citizen()
    await deliver(notifications, changed(person, "approved"))
    operator = Caller.new("operator")
    async with notifications.client() as http:
        answer = await http.get(
            URL, params={"user_id": person.user_id}, headers={**operator.headers, **REASON}
        )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert sorted((i["channel"], i["status"]) for i in items) == [
        ("email", "pending"),
        ("sms", "pending"),
    ]
    assert {i["channel_label"] for i in items} == {"SMS", "Электронная почта"}
    assert {i["status_label"] for i in items} == {"Ожидает отправки"}
    for item in items:
        assert set(item) == {
            "id", "kind", "channel", "channel_label", "status", "status_label",
            "attempt_count", "attempts", "failure_reason", "created_at", "next_attempt_at",
            "finished_at",
        }  # fmt: skip
    assert "Одобрено" not in answer.text  # no text of the message
    [entry] = (
        await notifications.runtime.db["access_log"].find({"person_id": person.user_id}).to_list()
    )
    assert (entry["person_id"], entry["actor_id"]) == (person.user_id, operator.user_id)
    assert (entry["actor_role"], entry["reason"]) == ("operator", "обращение 123")


async def test_a_citizen_sees_only_their_own(notifications: NotificationsApp) -> None:
    person, other = citizen(), citizen()
    await deliver(notifications, changed(person, "approved"))
    async with notifications.client() as http:
        own = await http.get(URL, headers=person.headers)
        theirs = await http.get(URL, params={"user_id": person.user_id}, headers=other.headers)
        nothing = await http.get(URL, headers=other.headers)
    assert len(own.json()["items"]) == 2
    assert_russian_problem(theirs, 404)
    assert nothing.json() == {"items": []}
    assert (
        await notifications.runtime.db["access_log"].count_documents({"person_id": person.user_id})
        == 0
    )  # a citizen's own reads are not staff access


async def test_bad_requests_are_refused_naming_what_is_wrong(
    notifications: NotificationsApp,
) -> None:
    operator = Caller.new("operator")
    async with notifications.client() as http:
        no_reason = await http.get(URL, params={"user_id": "u1"}, headers=operator.headers)
        no_user = await http.get(URL, headers={**operator.headers, **REASON})
        bad_limit = await http.get(URL, params={"limit": 0}, headers=citizen().headers)
        stranger = await http.get(
            URL, params={"user_id": "u1"}, headers=Caller.new("medical_worker").headers
        )
        anonymous = await http.get(URL)
    assert assert_russian_problem(no_reason, 422)["errors"][0]["field"] == "X-Access-Reason"
    assert assert_russian_problem(no_user, 422)["errors"][0]["field"] == "user_id"
    assert assert_russian_problem(bad_limit, 422)["errors"][0]["field"] == "limit"
    assert_russian_problem(stranger, 404)
    assert_russian_problem(anonymous, 401)
    logged = notifications.runtime.db["access_log"]
    assert await logged.count_documents({"actor_id": operator.user_id}) == 0  # refused: no read


async def test_an_attempt_that_found_no_contact_is_shown_with_its_reason(
    notifications: NotificationsApp,
) -> None:
    person = citizen()  # nobody is reachable in this app: no verified phone or e-mail
    await deliver(notifications, changed(person, "approved"))  # the app's dispatcher sends

    async def both_tried() -> list[dict[str, Any]]:
        async with notifications.client() as http:
            found: list[dict[str, Any]] = (await http.get(URL, headers=person.headers)).json()[
                "items"
            ]
        return found if all(i["status"] != "pending" for i in found) else []

    items = await eventually(both_tried, what="both deliveries tried")
    assert {(i["status"], i["failure_reason"], i["attempt_count"]) for i in items} == {
        ("no_contact", "no_contact", 1)
    }
    assert {i["status_label"] for i in items} == {"Нет подтверждённого контакта"}
    assert [a["outcome"] for a in items[0]["attempts"]] == ["no_contact"]
    assert items[0]["finished_at"] is not None
