"""The account: one-time codes (``one_time_code.<purpose>``, SMS and e-mail), a login
locked after password failures (``account_locked``), and someone registering with the
person's phone, e-mail or СНИЛС (``registration_attempted``).

A code goes in at send time and is forgotten right after; its variable is secret, so a
preview renders only the sample. Nothing here logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from notifications.domain.templates.common import (
    ADDRESSEE,
    MOSCOW,
    greeting,
    one_line,
    shown,
    signature,
    sms,
)
from notifications.domain.templates.letter import Paragraph, letter
from notifications.domain.templates.model import Kind, Rendered, Template, Values, Variable

ONE_TIME_CODE = "one_time_code"
ACCOUNT_LOCKED = "account_locked"
REGISTRATION_ATTEMPTED = "registration_attempted"

# By purpose (``DeliverOtp.purpose``): the SMS, which is also the e-mail's body, and the
# e-mail's subject.
ONE_TIME_CODE_TEXTS: Mapping[str, str] = {
    "contact_verification": "Код подтверждения ЭМК: {code}. Никому не сообщайте его.",
    "login": "Код для входа в ЭМК: {code}. Никому не сообщайте его, даже сотрудникам.",
}
ONE_TIME_CODE_SUBJECTS: Mapping[str, str] = {
    "contact_verification": "Подтверждение адреса электронной почты — ЭМК",
    "login": "Код для входа — ЭМК",
}
_ABOUT_CODE: Mapping[str, str] = {
    "contact_verification": "Одноразовый код подтверждения телефона или электронной почты",
    "login": "Одноразовый код для входа (второй фактор)",
}


def one_time_code_name(purpose: str) -> str:
    """``one_time_code.login``: the template of a code sent for ``purpose``."""
    return f"{ONE_TIME_CODE}.{purpose}"


_CODE: Mapping[str, Variable] = {
    "code": Variable(
        "Одноразовый код; в предпросмотре — всегда образец, настоящий код сюда не передают",
        Kind.TEXT,
        "123456",
        secret=True,
    ),
}


def _code_templates(purpose: str) -> tuple[Template, ...]:
    text, subject = ONE_TIME_CODE_TEXTS[purpose], ONE_TIME_CODE_SUBJECTS[purpose]

    def by_sms(values: Values) -> Rendered:
        return sms(text.format(code=values.text("code")))

    def by_email(values: Values) -> Rendered:
        return letter(subject, [Paragraph(text.format(code=values.text("code")))])

    name, about = one_time_code_name(purpose), _ABOUT_CODE[purpose]
    return (
        Template(name, "sms", 1, about, _CODE, by_sms),
        Template(name, "email", 1, about, _CODE, by_email),
    )


# --- a login locked after password failures -------------------------------------------------

_LOCKED: Mapping[str, Variable] = {
    "until": Variable(
        "До какого момента вход заблокирован (с часовым поясом); показывается по московскому "
        "времени",
        Kind.DATETIME,
        "2026-11-29T09:45:00+00:00",
    ),
}
_WHO = "Если пароль вводили не вы, никому не сообщайте коды из SMS и писем ЭМК."


def _locked_sentence(values: Values) -> str:
    until = f"{values.moment('until').astimezone(MOSCOW):%d.%m.%Y в %H:%M}"
    return (
        "После нескольких неверных попыток ввода пароля вход в ЭМК временно заблокирован: "
        f"до {until} (МСК)."
    )


def _locked_in_app(values: Values) -> Rendered:
    return shown("Вход временно заблокирован", f"{_locked_sentence(values)}\n{_WHO}")


def _locked_sms(values: Values) -> Rendered:
    until = f"{values.moment('until').astimezone(MOSCOW):%d.%m.%Y %H:%M}"
    return sms(one_line(f"ЭМК: вход заблокирован до {until} МСК после неверных паролей. {_WHO}"))


def _locked_email(values: Values) -> Rendered:
    return letter(
        "Вход временно заблокирован — ЭМК",
        [greeting(values), Paragraph(_locked_sentence(values)), Paragraph(_WHO), signature()],
    )


_ABOUT_LOCKED = "Вход заблокирован после неверных паролей (событие AccountLocked службы identity)"

# --- someone registering with the person's data ---------------------------------------------

# What each login is called in a sentence («с вашим номером телефона и СНИЛС»).
LOGIN_NAMES: Mapping[str, str] = {
    "phone": "номером телефона",
    "email": "адресом электронной почты",
    "snils": "СНИЛС",
}
_ATTEMPT: Mapping[str, Variable] = {
    "logins": Variable(
        "Какие данные человека указали при регистрации: phone, email, snils (только виды, "
        "не сами значения)",
        Kind.TEXT_LIST,
        ["phone", "snils"],
    ),
}
_IF_YOU = (
    "Если это были вы — у вас уже есть учётная запись: войдите в ЭМК. Если нет — ничего делать "
    "не нужно, новая учётная запись не создана; никому не сообщайте коды из SMS и писем ЭМК."
)


def _used(values: Values) -> str:
    """«номером телефона, адресом электронной почты и СНИЛС»."""
    names = [LOGIN_NAMES.get(login, login) for login in values.texts("logins")]
    return " и ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _attempt_sentence(values: Values) -> str:
    return f"Кто-то пытался зарегистрироваться в ЭМК с вашим {_used(values)}."


def _attempt_in_app(values: Values) -> Rendered:
    return shown("Попытка регистрации с вашими данными", f"{_attempt_sentence(values)}\n{_IF_YOU}")


def _attempt_sms(values: Values) -> Rendered:
    return sms(
        one_line(
            f"ЭМК: кто-то пытался зарегистрироваться с вашим {_used(values)}. Если это были "
            "не вы, ничего делать не нужно."
        )
    )


def _attempt_email(values: Values) -> Rendered:
    return letter(
        "Попытка регистрации с вашими данными — ЭМК",
        [greeting(values), Paragraph(_attempt_sentence(values)), Paragraph(_IF_YOU), signature()],
    )


_ABOUT_ATTEMPT = (
    "Регистрация с телефоном, почтой или СНИЛС уже зарегистрированного человека (событие "
    "RegistrationAttempted службы identity): ответ регистрации не выдаёт, что они заняты"
)

TEMPLATES = (
    *_code_templates("login"),
    *_code_templates("contact_verification"),
    Template(ACCOUNT_LOCKED, "in_app", 1, _ABOUT_LOCKED, _LOCKED, _locked_in_app),
    Template(ACCOUNT_LOCKED, "sms", 1, _ABOUT_LOCKED, _LOCKED, _locked_sms),
    Template(
        ACCOUNT_LOCKED,
        "email",
        1,
        _ABOUT_LOCKED,
        {**_LOCKED, "addressee": ADDRESSEE},
        _locked_email,
    ),
    Template(REGISTRATION_ATTEMPTED, "in_app", 1, _ABOUT_ATTEMPT, _ATTEMPT, _attempt_in_app),
    Template(REGISTRATION_ATTEMPTED, "sms", 2, _ABOUT_ATTEMPT, _ATTEMPT, _attempt_sms),
    Template(
        REGISTRATION_ATTEMPTED,
        "email",
        1,
        _ABOUT_ATTEMPT,
        {**_ATTEMPT, "addressee": ADDRESSEE},
        _attempt_email,
    ),
)
