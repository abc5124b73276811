"""An e-mail address with a real-looking domain that is not a disposable-mail service."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from emk_identifiers._common import strip
from emk_identifiers._errors import InvalidIdentifier

__all__ = ["email", "is_disposable_domain"]

_MAX_ADDRESS = 254  # RFC 5321: a path is at most 256 octets with its angle brackets
_MAX_LOCAL = 64
_MAX_LABEL = 63
# RFC 5322 atext plus the dot, and any Unicode letter or digit (RFC 6531 addresses).
_LOCAL = re.compile(r"(?:[^\W_]|[!#$%&'*+/=?^_`{|}~\-])+(?:\.(?:[^\W_]|[!#$%&'*+/=?^_`{|}~\-])+)*")
# A domain label: letters (any alphabet, so «почта.рф» passes), digits, inner hyphens.
_LABEL = re.compile(r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?")
_PUNYCODE_TLD = re.compile(r"xn--[a-z0-9\-]+")

_EXAMPLE = "Адрес должен выглядеть как ivanov@mail.ru"


def _invalid(code: str, reason: str) -> InvalidIdentifier:
    return InvalidIdentifier(code, f"Электронная почта: {reason}. {_EXAMPLE}.")


@cache
def _disposable_domains() -> frozenset[str]:
    text = resources.files("emk_identifiers").joinpath("disposable_domains.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def is_disposable_domain(domain: str) -> bool:
    """Whether ``domain`` or any domain above it is in the shipped list of disposable services.

    ``mailinator.com`` and ``abc.mailinator.com`` are disposable; the list is the package
    data file ``disposable_domains.txt``.
    """
    labels = domain.strip().lower().rstrip(".").split(".")
    listed = _disposable_domains()
    return any(".".join(labels[i:]) in listed for i in range(len(labels)))


def email(raw: str) -> str:
    """Validate an e-mail address and return it stripped and lower-cased as a whole.

    Rules: exactly one ``@``; a non-empty local part of letters, digits and
    ``!#$%&'*+/=?^_`{|}~-``, dots only between them, at most 64 characters; a domain of at
    least two dot-separated labels, each 1–63 letters (any alphabet), digits or inner
    hyphens; the last label (the TLD) of at least 2 letters (or a punycode ``xn--`` one);
    at most 254 characters in all; the domain and the domains above it not in the list of
    disposable-mail services. No DNS lookup is made.
    Codes: ``format``, ``disposable``.
    """
    value = strip(raw).lower()
    if not value:
        raise _invalid("format", "укажите адрес")
    if value.count("@") != 1:
        raise _invalid("format", "в адресе должен быть ровно один знак @")
    local, domain = value.split("@")
    if not local:
        raise _invalid("format", "перед знаком @ должно быть имя ящика")
    if len(value) > _MAX_ADDRESS or len(local) > _MAX_LOCAL:
        raise _invalid("format", "адрес слишком длинный")
    if _LOCAL.fullmatch(local) is None:
        raise _invalid("format", "имя ящика содержит недопустимые символы или лишние точки")
    labels = domain.split(".")
    if len(labels) < 2:
        raise _invalid("format", "после знака @ нужен домен с точкой")
    if any(len(label) > _MAX_LABEL or _LABEL.fullmatch(label) is None for label in labels):
        raise _invalid("format", "домен указан неверно")
    tld = labels[-1]
    if not ((len(tld) >= 2 and tld.isalpha()) or _PUNYCODE_TLD.fullmatch(tld)):
        raise _invalid("format", "домен указан неверно")
    if is_disposable_domain(domain):
        raise InvalidIdentifier(
            "disposable",
            "Электронная почта: адреса одноразовых почтовых сервисов не принимаются — "
            "укажите постоянный адрес.",
        )
    return value
