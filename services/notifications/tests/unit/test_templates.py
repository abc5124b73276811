"""Every template of every channel: it renders its samples, reads every variable it declares
and nothing else, refuses a missing, undeclared or wrong variable, and its e-mail's HTML says
what the text says, escaped, with nothing fetched from elsewhere. A template missing a
variable is a failure here, not a broken message."""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import get_args

import pytest

from emk_common.catalog import DeliverOtp
from notifications.domain import templates, texts
from notifications.domain.templates.model import (
    Kind,
    Rendered,
    Template,
    Values,
    Variable,
    VariablesError,
)

ALL = templates.TEMPLATES
EMAILS = [t for t in ALL if t.channel == "email"]
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def _id(template: Template) -> str:
    return f"{template.name}/{template.channel}"


def _problems(error: pytest.ExceptionInfo[VariablesError]) -> set[tuple[str, str]]:
    return {(p.name, p.code) for p in error.value.problems}


@pytest.mark.parametrize("template", ALL, ids=_id)
def test_every_template_renders_its_samples_and_reads_every_variable_it_declares(
    template: Template,
) -> None:
    rendered, read = template.traced(template.samples())
    assert read == set(template.variables), "declared but never read"
    assert template.version >= 1
    assert CYRILLIC.search(template.description)
    for name, variable in template.variables.items():
        assert CYRILLIC.search(variable.description), name
        assert variable.parse(variable.sample) is not None or variable.kind is Kind.OPTIONAL_TEXT
    assert rendered.text.strip()
    if template.channel == "in_app":
        assert rendered.title
        assert (rendered.subject, rendered.html) == (None, None)
    elif template.channel == "sms":
        assert "\n" not in rendered.text
        assert len(rendered.text) <= texts.SMS_MAX_CHARS
        assert rendered.text.startswith(("ЭМК:", "Код"))
        assert (rendered.title, rendered.subject, rendered.html) == (None, None, None)
    else:
        assert rendered.subject is not None
        assert rendered.subject.endswith("— ЭМК")
        assert rendered.html is not None
        assert rendered.title is None


@pytest.mark.parametrize(
    ("template", "missing"),
    [(t, name) for t in ALL for name in t.variables],
    ids=lambda v: _id(v) if isinstance(v, Template) else str(v),
)
def test_a_template_rendered_without_a_declared_variable_fails(
    template: Template, missing: str
) -> None:
    given = {k: v for k, v in template.samples().items() if k != missing}
    with pytest.raises(VariablesError) as error:
        template.render(given)
    assert _problems(error) == {(missing, "missing")}
    assert missing in str(error.value)


@pytest.mark.parametrize("template", ALL, ids=_id)
def test_a_template_rendered_with_an_undeclared_variable_fails(template: Template) -> None:
    with pytest.raises(VariablesError) as error:
        template.render({**template.samples(), "patronymic": "Сергеевна"})
    assert _problems(error) == {("patronymic", "unknown")}


# A value of the wrong kind for each kind.
WRONG: Mapping[Kind, object] = {
    Kind.TEXT: 42,
    Kind.OPTIONAL_TEXT: ["список"],
    Kind.TEXT_LIST: "не список",
    Kind.DATE: "12.03.2027",
    Kind.DATETIME: "2026-11-29T09:30:00",  # no offset
    Kind.INTEGER: "7",
}


@pytest.mark.parametrize(
    ("template", "wrong"),
    [(t, name) for t in ALL for name in t.variables],
    ids=lambda v: _id(v) if isinstance(v, Template) else str(v),
)
def test_a_variable_of_the_wrong_kind_fails_naming_it_and_not_its_value(
    template: Template, wrong: str
) -> None:
    value = WRONG[template.variables[wrong].kind]
    with pytest.raises(VariablesError) as error:
        template.render({**template.samples(), wrong: value})
    [problem] = error.value.problems
    assert (problem.name, problem.code) == (wrong, "invalid")
    assert CYRILLIC.search(problem.reason)
    assert str(value) not in str(error.value)


def test_kinds_take_json_and_the_values_the_facts_hold() -> None:
    day = Variable("день", Kind.DATE, "2027-03-12")
    assert day.parse("2027-03-12") == day.parse(date(2027, 3, 12)) == date(2027, 3, 12)
    moment = Variable("момент", Kind.DATETIME, "2026-11-29T09:30:00Z")
    assert moment.parse("2026-11-29T09:30:00Z") == datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    for wrong in ("0001-01-01T00:00:00+05:00", True, datetime(2026, 11, 29)):
        with pytest.raises(ValueError, match=r"[а-я]"):
            moment.parse(wrong)
    with pytest.raises(ValueError, match="без времени"):
        day.parse(datetime(2026, 11, 29, tzinfo=UTC))
    assert Variable("n", Kind.INTEGER, 1).parse(0) == 0
    with pytest.raises(ValueError, match="целое"):
        Variable("n", Kind.INTEGER, 1).parse(True)
    assert Variable("l", Kind.TEXT_LIST, []).parse(["a", "b"]) == ("a", "b")


def test_a_template_reading_what_it_did_not_declare_or_as_another_kind_fails() -> None:
    def reads_more(values: Values) -> Rendered:
        return Rendered(text=f"{values.text('number')} {values.text('status')}")

    def reads_wrong(values: Values) -> Rendered:
        return Rendered(text=f"{values.day('number')}")

    number = {"number": Variable("номер", Kind.TEXT, "1")}
    with pytest.raises(VariablesError) as error:
        Template("x", "sms", 1, "проба", number, reads_more).render({"number": "1"})
    assert _problems(error) == {("status", "unknown")}
    with pytest.raises(VariablesError) as error:
        Template("x", "sms", 1, "проба", number, reads_wrong).render({"number": "1"})
    assert _problems(error) == {("number", "invalid")}


# --- one place for every message ------------------------------------------------------------

MESSAGES: list[texts.Message] = [
    texts.StatusChange("2026-000123", "issued", book_number="77-01-000123-26"),
    texts.StatusChange(
        number=None,
        status="rejected",
        comment="Причина",
        fields=("employer.inn",),
        documents=("passport",),
        status_label="Отклонено",
        field_labels={"employer.inn": "ИНН работодателя"},
    ),
    texts.BookAccess("ГБУЗ «Поликлиника № 1»", date(2026, 12, 30), "identifiers"),
    texts.BookCheck(datetime(2026, 11, 29, 9, 30, tzinfo=UTC)),
    texts.DueReminder("vaccination", date(2027, 3, 12), 1),
    texts.BookNotValid(),
    texts.AccountLock(datetime(2026, 11, 29, 9, 45, tzinfo=UTC)),
]


def test_every_message_and_one_time_code_has_a_template_per_channel() -> None:
    kinds = {texts.kind_of(message) for message in MESSAGES}
    assert kinds == {
        texts.APPLICATION_STATUS, texts.BOOK_ACCESS, texts.BOOK_CHECKED, texts.REMINDER,
        texts.BOOK_NOT_VALID, texts.ACCOUNT_LOCKED,
    }  # fmt: skip
    for kind in kinds:
        assert [t.channel for t in templates.of(kind)] == ["in_app", "sms", "email"]
    purposes = get_args(DeliverOtp.model_fields["purpose"].annotation)
    assert set(purposes) == set(texts.ONE_TIME_CODE_TEXTS) == set(texts.ONE_TIME_CODE_SUBJECTS)
    for purpose in purposes:
        assert [t.channel for t in templates.of(f"one_time_code.{purpose}")] == ["sms", "email"]
    assert [t.channel for t in templates.of("account_locked")] == ["in_app", "sms", "email"]
    # The summary of SMS past the hourly limit is an SMS only (nothing else is held back).
    assert [t.channel for t in templates.of(texts.SMS_SUMMARY)] == ["sms"]
    assert texts.kind_of(texts.SmsSummary(2)) == texts.SMS_SUMMARY
    assert len({(t.name, t.channel) for t in ALL}) == len(ALL)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_a_messages_facts_give_each_of_its_templates_exactly_its_variables(
    message: texts.Message,
) -> None:
    facts = set(texts.variables_of(message)) | {"addressee"}
    declared: set[str] = set()
    for template in templates.of(texts.kind_of(message)):
        assert set(template.variables) <= facts, _id(template)
        declared |= set(template.variables)
    assert declared == facts
    assert texts.in_app_of(message).title
    assert texts.sms_of(message)
    assert texts.email_of(message, "Анна").html


# --- the e-mail: plain text plus the same as HTML -------------------------------------------


class _Page(HTMLParser):
    """The tags, attributes and text of an HTML letter, as a mail client reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_title = tag == "title"
        for name, value in attrs:
            self.attributes.add(name)
            if name == "style" and value is not None:
                self.styles.append(value)
        if tag == "br":
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if tag in ("p", "li"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._in_title:
            self.text.append(data)


def _page(rendered: Rendered) -> _Page:
    assert rendered.html is not None
    page = _Page()
    page.feed(rendered.html)
    page.close()
    return page


def _words(text: str) -> list[str]:
    # The plain text marks list items with «— »; HTML with <li>.
    return " ".join(re.sub(r"^— ", "", line) for line in text.splitlines()).split()


@pytest.mark.parametrize("template", EMAILS, ids=_id)
def test_the_html_letter_says_what_the_text_says_with_inline_styles_only(
    template: Template,
) -> None:
    rendered = template.render(template.samples())
    page = _page(rendered)
    assert _words("".join(page.text)) == _words(rendered.text)
    assert page.tags <= {"html", "head", "meta", "title", "body", "div", "p", "br", "ul", "li"}
    assert page.attributes <= {"lang", "charset", "name", "content", "style"}
    assert page.styles
    assert rendered.html is not None
    assert rendered.html.startswith("<!DOCTYPE html>")
    for fetched in ("http:", "https:", "//", "url(", "@import", "src=", "href="):
        assert fetched not in rendered.html, fetched


HOSTILE = '<script>alert("x")</script><img src="https://evil.example/p.png">&amp;'


def _hostile(template: Template) -> dict[str, object]:
    """The samples, with every text variable but the ones choosing the wording hostile."""
    given: dict[str, object] = dict(template.samples())
    for name, variable in template.variables.items():
        if variable.kind in (Kind.TEXT, Kind.OPTIONAL_TEXT) and name not in ("status", "via"):
            given[name] = HOSTILE
        elif variable.kind is Kind.TEXT_LIST:
            given[name] = [HOSTILE, "ИНН"]
    return given


@pytest.mark.parametrize("template", EMAILS, ids=_id)
def test_every_variable_is_escaped_in_the_html(template: Template) -> None:
    rendered = template.render(_hostile(template))
    assert rendered.html is not None
    page = _page(rendered)
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert "<script" not in rendered.html
    assert "<img" not in rendered.html
    assert html.escape(HOSTILE) in rendered.html  # shown, as text
    assert HOSTILE in "".join(page.text)
    assert HOSTILE in rendered.text  # the plain part is plain


def test_a_status_letter_in_html_lists_what_to_fix() -> None:
    letter = texts.email_of(MESSAGES[1], "Мария Сергеевна")
    assert "<li" in letter.html
    assert "ИНН работодателя</li>" in letter.html
    assert "Скан паспорта" not in letter.html  # no label came: the document's code is shown
    assert "passport</li>" in letter.html
    assert "Здравствуйте, Мария Сергеевна!" in letter.html
    assert "Электронная медицинская книжка (ЭМК)" in letter.html


def test_a_one_time_code_letter_is_todays_text_plus_html() -> None:
    letter = texts.one_time_code_email("login", "482913")
    assert letter.subject == texts.ONE_TIME_CODE_SUBJECTS["login"]
    assert letter.body == texts.one_time_code("login", "482913")
    assert "Код для входа в ЭМК: 482913." in letter.html


# --- versions: a changed text needs a new version -------------------------------------------

# (name, channel) -> (version, the first 12 hex digits of sha256 over the samples' rendering).
# A change to what a template says fails here: raise its version and pin the new rendering.
PINNED: Mapping[tuple[str, str], tuple[int, str]] = {
    ("application_status", "in_app"): (1, "e344d2236214"),
    ("application_status", "sms"): (1, "e63b56a0c293"),
    ("application_status", "email"): (1, "134bd1cf072e"),
    ("book_access", "in_app"): (1, "fea1ba7130ac"),
    ("book_access", "sms"): (1, "5c1b563ab997"),
    ("book_access", "email"): (1, "920d12728b9c"),
    ("book_checked", "in_app"): (1, "3907c0726469"),
    ("book_checked", "sms"): (1, "d902af453a31"),
    ("book_checked", "email"): (1, "1c4c6a44cd0a"),
    ("reminder", "in_app"): (1, "af4da6ac973c"),
    ("reminder", "sms"): (1, "688d9efef87c"),
    ("reminder", "email"): (1, "3b4c093f2406"),
    ("book_not_valid", "in_app"): (1, "7a8000f5284c"),
    ("book_not_valid", "sms"): (1, "d1396a79229b"),
    ("book_not_valid", "email"): (1, "0cc41a01145b"),
    ("one_time_code.login", "sms"): (1, "5105e10200c0"),
    ("one_time_code.login", "email"): (1, "abcc0b718738"),
    ("one_time_code.contact_verification", "sms"): (1, "05cd5508aa8a"),
    ("one_time_code.contact_verification", "email"): (1, "0f67f57f60d6"),
    ("account_locked", "in_app"): (1, "94ce239e5087"),
    ("account_locked", "sms"): (1, "75b87d8e1a86"),
    ("account_locked", "email"): (1, "e7a2b0372c4d"),
    ("registration_attempted", "in_app"): (1, "f40689002d49"),
    ("registration_attempted", "sms"): (2, "f96df4a96bb5"),
    ("registration_attempted", "email"): (1, "9e96ae19dba8"),
    ("sms_summary", "sms"): (1, "4119fbf4dfd8"),
}


def test_the_registration_notice_fits_one_sms_whatever_logins_it_names() -> None:
    sms = templates.template("registration_attempted", "sms")
    kinds = ["phone", "email", "snils"]
    for size in (1, 2, 3):
        for logins in itertools.combinations(kinds, size):
            text = sms.render({"logins": list(logins)}).text
            assert len(text) <= texts.SMS_MAX_CHARS, (logins, len(text))


def _fingerprint(template: Template) -> str:
    rendered = template.render(template.samples())
    parts = [rendered.title or "", rendered.subject or "", rendered.text, rendered.html or ""]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def test_a_changed_text_needs_a_new_version() -> None:
    now = {(t.name, t.channel): (t.version, _fingerprint(t)) for t in ALL}
    assert now == PINNED


# --- the preview an admin asks for ----------------------------------------------------------


def test_a_preview_fills_the_samples_and_renders_each_channel_or_the_one_asked() -> None:
    shown = templates.preview("reminder", {"days_left": 3, "addressee": None})
    assert [t.channel for t, _ in shown] == ["in_app", "sms", "email"]
    in_app, sms, email = (rendered for _, rendered in shown)
    assert in_app.text.startswith("Через 3 дня, 12.03.2027, истекает срок периодического")
    assert sms.text.startswith("ЭМК: через 3 дня, 12.03.2027")
    assert email.text.startswith("Здравствуйте!\n\n")
    [(template, only)] = templates.preview("book_checked", {}, "sms")
    assert (template.channel, only.text) == (
        "sms",
        "ЭМК: вашу медицинскую книжку проверили по коду доступа 29.11.2026 в 12:30 МСК. "
        "Если вы не передавали код, отзовите его в личном кабинете.",
    )


def test_a_preview_names_each_unknown_wrong_or_secret_variable() -> None:
    with pytest.raises(VariablesError) as error:
        templates.preview("book_access", {"until": "завтра", "nope": 1, "via": 5})
    assert _problems(error) == {("until", "invalid"), ("nope", "unknown"), ("via", "invalid")}
    # An SMS has no addressee: asked alone, it is not one of its variables.
    with pytest.raises(VariablesError) as error:
        templates.preview("book_access", {"addressee": "Анна"}, "sms")
    assert _problems(error) == {("addressee", "unknown")}
    with pytest.raises(VariablesError) as error:
        templates.preview("one_time_code.login", {"code": "482913"})
    assert _problems(error) == {("code", "secret")}
    with pytest.raises(templates.UnknownTemplateError):
        templates.preview("no_such_message", {})
    with pytest.raises(templates.NoSuchChannelError):
        templates.preview("one_time_code.login", {}, "in_app")


def test_a_one_time_code_preview_shows_only_the_sample_code() -> None:
    [(_, sms), (_, email)] = templates.preview("one_time_code.login", {})
    sample = templates.template("one_time_code.login", "sms").variables["code"].sample
    assert sms.text == f"Код для входа в ЭМК: {sample}. Никому не сообщайте его, даже сотрудникам."
    assert email.text == sms.text
    assert email.subject == "Код для входа — ЭМК"
