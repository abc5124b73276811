"""The templates for admins through the HTTP API: the list with versions and declared
variables, and a preview rendered with sample values; unknown templates, wrong variables and
callers who are not admins are refused as problems."""

from __future__ import annotations

from typing import Any

import httpx

from emk_testing import Caller

from .conftest import NotificationsApp, citizen
from .test_api import CYRILLIC, assert_russian_problem

URL = "/api/v1/notifications/templates"


def admin() -> Caller:
    return Caller.new("admin")


async def preview(http: httpx.AsyncClient, name: str, body: Any) -> httpx.Response:
    return await http.post(f"{URL}/{name}/preview", json=body, headers=admin().headers)


async def test_an_admin_lists_every_template_per_channel_with_its_variables(
    notifications: NotificationsApp,
) -> None:
    async with notifications.client() as http:
        answer = await http.get(URL, headers=admin().headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    listed = {(item["name"], item["channel"]) for item in items}
    for name in ("application_status", "book_access", "book_checked", "reminder",
                 "book_not_valid", "account_locked"):  # fmt: skip
        assert {(name, "in_app"), (name, "sms"), (name, "email")} <= listed
    for purpose in ("login", "contact_verification"):
        assert {(f"one_time_code.{purpose}", "sms"), (f"one_time_code.{purpose}", "email")} <= (
            listed
        )
    [reminder] = [i for i in items if (i["name"], i["channel"]) == ("reminder", "email")]
    assert reminder["version"] >= 1
    assert CYRILLIC.search(reminder["description"])
    variables = {v["name"]: v for v in reminder["variables"]}
    assert set(variables) == {"due_kind", "due_date", "days_left", "addressee"}
    assert variables["due_date"]["type"] == "date"
    assert variables["due_date"]["sample"] == "2027-03-12"
    assert all(CYRILLIC.search(v["description"]) for v in variables.values())
    [code] = [i for i in items if (i["name"], i["channel"]) == ("one_time_code.login", "sms")]
    assert code["variables"][0]["name"] == "code"
    assert code["variables"][0]["secret"] is True


async def test_a_preview_renders_each_channel_with_the_samples_filling_the_rest(
    notifications: NotificationsApp,
) -> None:
    async with notifications.client() as http:
        every = await preview(http, "reminder", {"variables": {"days_left": 3}})
        one = await preview(
            http,
            "application_status",
            {"channel": "email", "variables": {"addressee": "<b>Анна</b>", "fixes": ["ИНН"]}},
        )
    assert every.status_code == 200, every.text
    body = every.json()
    assert body["name"] == "reminder"
    in_app, sms, email = body["items"]
    assert [in_app["channel"], sms["channel"], email["channel"]] == ["in_app", "sms", "email"]
    assert in_app["title"] == "Напоминание о сроке"
    assert in_app["text"].startswith("Через 3 дня, 12.03.2027, истекает срок")
    assert (in_app["subject"], in_app["html"]) == (None, None)
    assert sms["text"].startswith("ЭМК: через 3 дня")
    assert (sms["title"], sms["subject"], sms["html"]) == (None, None, None)
    assert email["subject"] == "Напоминание: срок периодического медицинского осмотра — ЭМК"
    assert email["text"].startswith("Здравствуйте, Мария Сергеевна!")  # the sample addressee
    assert "<!DOCTYPE html>" in email["html"]
    assert one.status_code == 200, one.text
    [letter] = one.json()["items"]
    assert letter["channel"] == "email"
    assert letter["version"] >= 1
    assert letter["text"].startswith("Здравствуйте, <b>Анна</b>!")
    assert "Здравствуйте, &lt;b&gt;Анна&lt;/b&gt;!" in letter["html"]
    assert "<b>" not in letter["html"]
    assert "— ИНН" in letter["text"]


async def test_a_one_time_code_preview_uses_only_the_sample_code(
    notifications: NotificationsApp,
) -> None:
    async with notifications.client() as http:
        shown = await preview(http, "one_time_code.login", {})
        real = await preview(http, "one_time_code.login", {"variables": {"code": "482913"}})
        in_app = await preview(http, "one_time_code.login", {"channel": "in_app"})
    assert shown.status_code == 200, shown.text
    sms, email = shown.json()["items"]
    assert sms["text"] == "Код для входа в ЭМК: 123456. Никому не сообщайте его, даже сотрудникам."
    assert email["text"] == sms["text"]
    assert email["subject"] == "Код для входа — ЭМК"
    problem = assert_russian_problem(real, 422)
    assert [e["field"] for e in problem["errors"]] == ["variables.code"]
    assert "482913" not in real.text
    problem = assert_russian_problem(in_app, 422)
    assert [e["field"] for e in problem["errors"]] == ["channel"]


async def test_an_unknown_template_is_404_and_wrong_variables_422_naming_each(
    notifications: NotificationsApp,
) -> None:
    async with notifications.client() as http:
        unknown = await preview(http, "no_such_message", {})
        wrong = await preview(
            http, "book_checked", {"variables": {"checked_at": "вчера", "nope": 1}}
        )
        shape = await preview(http, "book_checked", {"variables": [], "extra": True})
    problem = assert_russian_problem(unknown, 404)
    assert "no_such_message" in problem["detail"]
    problem = assert_russian_problem(wrong, 422)
    errors = {e["field"]: e for e in problem["errors"]}
    assert set(errors) == {"variables.checked_at", "variables.nope"}
    assert (errors["variables.nope"]["code"], errors["variables.checked_at"]["code"]) == (
        "unknown",
        "invalid",
    )
    assert all(CYRILLIC.search(e["message"]) for e in errors.values())
    problem = assert_russian_problem(shape, 422)
    assert {e["field"] for e in problem["errors"]} == {"variables", "extra"}


async def test_only_admins_see_templates(notifications: NotificationsApp) -> None:
    async with notifications.client() as http:
        anonymous = await http.get(URL)
        person = await http.get(URL, headers=citizen().headers)
        operator = await http.post(
            f"{URL}/reminder/preview", json={}, headers=Caller.new("operator").headers
        )
        nobody = await http.post(f"{URL}/reminder/preview", json={})
    assert_russian_problem(anonymous, 401)
    assert_russian_problem(person, 403)
    assert_russian_problem(operator, 403)
    assert_russian_problem(nobody, 401)
