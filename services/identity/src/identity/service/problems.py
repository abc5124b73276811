"""Where the identity service's refusals become problem+json answers: the one place that
turns a domain verdict into an HTTP status and a Russian message."""

from __future__ import annotations

import math
from collections.abc import Iterable

from emk_common.problems import FieldError, Problem
from identity.domain.logins import LoginKind
from identity.domain.otp import Verdict
from identity.ports import Discrepancy

_SIGN_IN_INSTEAD = "Войдите или восстановите доступ."
_ALREADY_REGISTERED = {
    "phone": f"Пользователь с таким номером телефона уже зарегистрирован. {_SIGN_IN_INSTEAD}",
    "email": f"Пользователь с такой электронной почтой уже зарегистрирован. {_SIGN_IN_INSTEAD}",
    "snils": f"Пользователь с таким СНИЛС уже зарегистрирован. {_SIGN_IN_INSTEAD}",
}
WRONG_CREDENTIALS = "Неверный логин или пароль."
LOGIN_OVER = "Вход не начат или уже завершён. Введите логин и пароль снова."


def account_changed() -> Problem:
    return Problem.conflict("Данные учётной записи изменились. Повторите запрос.")


def no_account() -> Problem:
    return Problem.not_found("Учётная запись не найдена.")


def already_registered(kinds: Iterable[LoginKind]) -> Problem:
    errors = [
        FieldError(field=kind, code="already_registered", message=_ALREADY_REGISTERED[kind])
        for kind in kinds
    ]
    return Problem(
        409,
        code="already-registered",
        detail="Такой пользователь уже зарегистрирован.",
        errors=errors,
    )


def contact_code_refused(verdict: Verdict, remaining: int = 0) -> Problem:
    messages = {
        Verdict.EXPIRED: ("expired", "Срок действия кода истёк. Запросите новый код."),
        Verdict.EXHAUSTED: (
            "exhausted",
            "Код больше не действует: исчерпаны попытки ввода. Запросите новый код.",
        ),
        Verdict.WRONG: ("wrong_code", f"Неверный код. Осталось попыток: {remaining}."),
    }
    code, message = messages[verdict]
    return Problem.validation([FieldError(field="code", code=code, message=message)])


def login_code_refused(verdict: Verdict, remaining: int = 0) -> Problem:
    """A wrong code may be tried again (422); a spent or expired challenge means a new
    login (401)."""
    if verdict is Verdict.EXHAUSTED:
        return Problem.not_authenticated(
            "Код больше не действует: исчерпаны попытки. Войдите заново."
        )
    if verdict is Verdict.EXPIRED:
        return Problem.not_authenticated("Срок действия кода истёк. Войдите заново.")
    return Problem.validation(
        [
            FieldError(
                field="code",
                code="wrong_code",
                message=f"Неверный код. Осталось попыток: {remaining}.",
            )
        ]
    )


def wrong_app_code() -> Problem:
    return Problem.validation(
        [
            FieldError(
                field="code",
                code="wrong_code",
                message=(
                    "Неверный код из приложения. Проверьте время на телефоне и введите новый код."
                ),
            )
        ]
    )


def login_locked(seconds: float) -> Problem:
    wait = max(1, math.ceil(seconds))
    return Problem(
        429,
        detail=(
            "Вход временно заблокирован из-за неудачных попыток. "
            f"Попробуйте через {math.ceil(wait / 60)} мин."
        ),
        headers={"Retry-After": str(wait)},
    )


def registry_discrepancies(found: Iterable[Discrepancy]) -> Problem:
    return Problem.validation(
        [FieldError(field=d.field, code=d.code, message=d.message) for d in found]
    )
