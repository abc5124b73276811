"""What a template is: one message over one channel, versioned, with its variables declared.

A template renders from exactly the variables it declares: one missing, one it does not
declare, or one of the wrong type raises ``VariablesError`` (naming every one of them), so a
mistake is a failed test or a refused preview, never a broken message. A variable's value is
taken in its JSON form (what a preview sends: a date as ``2027-03-12``) or as the Python value
the facts already hold (a ``date``); either way it is checked against the variable's kind.

Errors name variables, never their values: a value can be a one-time code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, TypeVar

Channel = Literal["in_app", "sms", "email"]
CHANNELS: tuple[Channel, ...] = ("in_app", "sms", "email")

# A sample as JSON holds it (a date as an ISO string).
Sample = str | int | list[str] | None


class Kind(StrEnum):
    """What a variable holds; a preview sends it in JSON."""

    TEXT = "text"  # a string
    OPTIONAL_TEXT = "optional_text"  # a string or null
    TEXT_LIST = "text_list"  # a list of strings
    DATE = "date"  # 2027-03-12
    DATETIME = "datetime"  # 2026-11-29T09:30:00+00:00, with its offset
    INTEGER = "integer"


@dataclass(frozen=True)
class Variable:
    description: str  # Russian: an admin reads it
    kind: Kind
    sample: Sample
    # Never taken from outside: a preview always renders the sample (a one-time code).
    secret: bool = False

    def parse(self, raw: object) -> object:
        """The value as a template reads it; ``ValueError`` with a Russian reason if wrong."""
        return _PARSERS[self.kind](raw)


@dataclass(frozen=True)
class Rendered:
    """What a person receives: in-app a title and a text, an SMS a text, an e-mail a subject,
    its plain text and the same as HTML."""

    text: str
    title: str | None = None
    subject: str | None = None
    html: str | None = None


class TemplateError(Exception):
    """A template cannot render: unknown, or asked for a channel it does not have."""


class UnknownTemplateError(TemplateError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no template {name!r}")
        self.name = name


class NoSuchChannelError(TemplateError, LookupError):
    def __init__(self, name: str, channel: str) -> None:
        super().__init__(f"template {name!r} has no {channel!r} channel")
        self.name, self.channel = name, channel


@dataclass(frozen=True)
class VariableProblem:
    name: str
    code: Literal["missing", "unknown", "invalid", "secret"]
    reason: str  # Russian, reads after «Поле «variables.<name>»: »


class VariablesError(TemplateError, ValueError):
    """Variables missing, undeclared or of the wrong kind (each named, no value shown)."""

    def __init__(self, template: str, problems: list[VariableProblem]) -> None:
        named = ", ".join(f"{p.name} ({p.code})" for p in problems)
        super().__init__(f"template {template!r}: {named}")
        self.template = template
        self.problems = tuple(problems)


class Values:
    """The variables of one rendering, typed as the template reads them. Reading a variable
    the template did not declare, or as another kind, raises; what was read is recorded
    (a test checks each declared variable is used)."""

    def __init__(self, template: str, values: Mapping[str, object]) -> None:
        self._template = template
        self._values = dict(values)
        self.read: set[str] = set()

    def _take(self, name: str) -> object:
        if name not in self._values:
            raise VariablesError(
                self._template,
                [VariableProblem(name, "unknown", "шаблон читает необъявленную переменную")],
            )
        self.read.add(name)
        return self._values[name]

    def _wrong(self, name: str, kind: str) -> VariablesError:
        problem = VariableProblem(name, "invalid", f"шаблон читает её как {kind}")
        return VariablesError(self._template, [problem])

    def text(self, name: str) -> str:
        value = self._take(name)
        if not isinstance(value, str):
            raise self._wrong(name, Kind.TEXT)
        return value

    def optional(self, name: str) -> str | None:
        value = self._take(name)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, Kind.OPTIONAL_TEXT)
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._take(name)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise self._wrong(name, Kind.TEXT_LIST)
        return value

    def day(self, name: str) -> date:
        value = self._take(name)
        if not isinstance(value, date) or isinstance(value, datetime):
            raise self._wrong(name, Kind.DATE)
        return value

    def moment(self, name: str) -> datetime:
        value = self._take(name)
        if not isinstance(value, datetime):
            raise self._wrong(name, Kind.DATETIME)
        return value

    def integer(self, name: str) -> int:
        value = self._take(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(name, Kind.INTEGER)
        return value


@dataclass(frozen=True)
class Template:
    """One message (``name``) over one channel, at ``version`` (raised whenever what people
    read changes), rendering from exactly its declared ``variables``."""

    name: str
    channel: Channel
    version: int
    description: str  # Russian: which message this is, for an admin
    variables: Mapping[str, Variable]
    make: Callable[[Values], Rendered] = field(repr=False)

    def samples(self) -> dict[str, Sample]:
        return {name: variable.sample for name, variable in self.variables.items()}

    def check(self, given: Mapping[str, object]) -> dict[str, object]:
        """The variables parsed, or ``VariablesError`` naming every one missing, undeclared
        or of the wrong kind."""
        problems = [
            VariableProblem(name, "unknown", "шаблон не объявляет такую переменную")
            for name in given
            if name not in self.variables
        ]
        parsed: dict[str, object] = {}
        for name, variable in self.variables.items():
            if name not in given:
                problems.append(VariableProblem(name, "missing", "переменная не передана"))
                continue
            try:
                parsed[name] = variable.parse(given[name])
            except ValueError as exc:
                problems.append(VariableProblem(name, "invalid", str(exc)))
        if problems:
            raise VariablesError(f"{self.name}/{self.channel}", problems)
        return parsed

    def traced(self, given: Mapping[str, object]) -> tuple[Rendered, frozenset[str]]:
        """Rendered, and the variables the rendering read."""
        values = Values(f"{self.name}/{self.channel}", self.check(given))
        rendered = self.make(values)
        return rendered, frozenset(values.read)

    def render(self, given: Mapping[str, object]) -> Rendered:
        return self.traced(given)[0]


# --- reading a value of each kind (from JSON, or as the facts hold it) -----------------------

_YEARS = (1900, 2999)
_Day = TypeVar("_Day", date, datetime)


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("ожидается строка")
    return raw


def _optional_text(raw: object) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValueError("ожидается строка или null")
    return raw


def _text_list(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        raise ValueError("ожидается список строк")
    return tuple(raw)


def _date(raw: object) -> date:
    if isinstance(raw, datetime):
        raise ValueError("ожидается дата без времени")
    day = raw
    if isinstance(raw, str):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            day = None
    if not isinstance(day, date):
        raise ValueError("дата должна быть в формате ГГГГ-ММ-ДД")
    return _in_range(day)


def _datetime(raw: object) -> datetime:
    moment = raw
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
    if not isinstance(moment, datetime):
        raise ValueError(
            "дата и время должны быть в формате ISO 8601, например 2026-11-29T09:30:00+00:00"
        )
    if moment.utcoffset() is None:
        raise ValueError("укажите часовой пояс, например Z или +03:00")
    return _in_range(moment)


def _in_range(day: _Day) -> _Day:
    # Far enough from year 1 and 9999 for any time zone; a real date is always well inside.
    if not _YEARS[0] <= day.year <= _YEARS[1]:
        raise ValueError(f"год должен быть от {_YEARS[0]} до {_YEARS[1]}")
    return day


def _integer(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError("ожидается целое число")
    return raw


_PARSERS: Mapping[Kind, Callable[[object], object]] = {
    Kind.TEXT: _text,
    Kind.OPTIONAL_TEXT: _optional_text,
    Kind.TEXT_LIST: _text_list,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
    Kind.INTEGER: _integer,
}
