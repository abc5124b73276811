"""Every message the service sends, in one place: a versioned template per message and
channel (in-app, SMS, e-mail), with its variables declared (``model.py``).

| name | channels | about |
|---|---|---|
| ``application_status`` | in_app, sms, email | an application changed status (``issued``: the book's number too) |
| ``book_access`` | in_app, sms, email | a medical organisation was given access to the book |
| ``book_checked`` | in_app, sms, email | the book was checked with a share code |
| ``reminder`` | in_app, sms, email | a due date of the book comes near |
| ``book_not_valid`` | in_app, sms, email | the book stopped being valid |
| ``account_locked`` | in_app, sms, email | a login locked after password failures (not sent yet) |
| ``registration_attempted`` | in_app, sms, email | someone registered with the person's phone, e-mail or СНИЛС |
| ``one_time_code.login``, ``one_time_code.contact_verification`` | sms, email | a one-time code |

An e-mail is plain text and the same content as HTML (``letter.py``). Change what a template
says and raise its ``version`` (a unit test pins each version's rendering of its samples).
"""  # noqa: E501 - the table

from __future__ import annotations

from collections.abc import Mapping

from notifications.domain.templates import account, application, book, summary
from notifications.domain.templates.model import (
    CHANNELS,
    Channel,
    NoSuchChannelError,
    Rendered,
    Template,
    UnknownTemplateError,
    VariableProblem,
    VariablesError,
)

TEMPLATES: tuple[Template, ...] = (
    *application.TEMPLATES,
    *book.TEMPLATES,
    *account.TEMPLATES,
    *summary.TEMPLATES,
)

_BY_NAME: dict[str, dict[Channel, Template]] = {}
for _template in TEMPLATES:
    _channels = _BY_NAME.setdefault(_template.name, {})
    if _template.channel in _channels:
        raise RuntimeError(f"two templates {_template.name}/{_template.channel}")
    _channels[_template.channel] = _template


def names() -> list[str]:
    return list(_BY_NAME)


def of(name: str) -> list[Template]:
    """The message's templates, one per channel (in-app, SMS, e-mail order)."""
    channels = _BY_NAME.get(name)
    if channels is None:
        raise UnknownTemplateError(name)
    return [channels[channel] for channel in CHANNELS if channel in channels]


def template(name: str, channel: Channel) -> Template:
    found = _BY_NAME.get(name)
    if found is None:
        raise UnknownTemplateError(name)
    if channel not in found:
        raise NoSuchChannelError(name, channel)
    return found[channel]


def render(name: str, channel: Channel, variables: Mapping[str, object]) -> Rendered:
    """``name`` over ``channel`` from exactly its declared variables (``VariablesError``
    otherwise)."""
    return template(name, channel).render(variables)


def preview(
    name: str, variables: Mapping[str, object], channel: Channel | None = None
) -> list[tuple[Template, Rendered]]:
    """What an admin sees: the message over each of its channels (or the one asked), with
    the samples filling whatever ``variables`` does not give. A variable no template asked
    declares, one of the wrong kind, or a secret one (a one-time code: always the sample)
    raises ``VariablesError`` naming each."""
    asked = of(name) if channel is None else [template(name, channel)]
    declared = {key: var for t in asked for key, var in t.variables.items()}
    problems: dict[str, VariableProblem] = {}
    for key in variables:
        if key not in declared:
            reason = "у шаблона нет такой переменной"
            problems[key] = VariableProblem(key, "unknown", reason)
        elif declared[key].secret:
            reason = "в предпросмотре используется только образец"
            problems[key] = VariableProblem(key, "secret", reason)
    rendered: list[tuple[Template, Rendered]] = []
    for each in asked:
        given = {
            key: variables[key] if key in variables and key not in problems else var.sample
            for key, var in each.variables.items()
        }
        try:
            rendered.append((each, each.render(given)))
        except VariablesError as exc:
            for problem in exc.problems:
                problems.setdefault(problem.name, problem)
    if problems:
        raise VariablesError(name, list(problems.values()))
    return rendered


__all__ = [
    "CHANNELS",
    "TEMPLATES",
    "Channel",
    "NoSuchChannelError",
    "Rendered",
    "Template",
    "UnknownTemplateError",
    "VariableProblem",
    "VariablesError",
    "names",
    "of",
    "preview",
    "render",
    "template",
]
