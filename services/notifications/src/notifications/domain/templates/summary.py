"""The SMS that stands for several (``sms_summary``): past a person's hourly SMS limit, the
status messages and reminders that would have gone are folded into one, sent when the hour
allows («ЭМК: ещё 3 новых уведомления — в личном кабинете.»). SMS only: in-app and e-mail
were never held back."""

from __future__ import annotations

from collections.abc import Mapping

from notifications.domain.templates.common import one_line, sms
from notifications.domain.templates.model import Kind, Rendered, Template, Values, Variable

SMS_SUMMARY = "sms_summary"

_VARIABLES: Mapping[str, Variable] = {
    "count": Variable("Сколько SMS-сообщений объединено в это", Kind.INTEGER, 3),
}


def notifications_phrase(count: int) -> str:
    """«1 новое уведомление», «3 новых уведомления», «5 новых уведомлений»."""
    tens, ones = count % 100, count % 10
    if ones == 1 and tens != 11:
        return f"{count} новое уведомление"
    if ones in (2, 3, 4) and not 12 <= tens <= 14:
        return f"{count} новых уведомления"
    return f"{count} новых уведомлений"


def _by_sms(values: Values) -> Rendered:
    told = notifications_phrase(values.integer("count"))
    return sms(one_line(f"ЭМК: ещё {told} — в личном кабинете."))


TEMPLATES = (
    Template(
        SMS_SUMMARY,
        "sms",
        1,
        "Сводное SMS вместо сообщений сверх часового лимита на человека",
        _VARIABLES,
        _by_sms,
    ),
)
