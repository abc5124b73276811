"""Phone numbers and e-mail addresses."""

from __future__ import annotations

import pytest

from emk_identifiers import InvalidIdentifier, email, is_disposable_domain, phone


@pytest.mark.parametrize(
    "raw",
    [
        "+79991234567",
        "+7 (999) 123-45-67",
        "+7 999 123-45-67",
        "+7-999-123-45-67",
        "+7(999)1234567",
        "8 999 123 45 67",
        "8 (999) 123-45-67",
        "89991234567",
        "79991234567",
        "7 999 123 45 67",
        "  +7 999 123 45 67  ",
    ],
)
def test_accepted_phone_shapes(raw: str) -> None:
    assert phone(raw) == "+79991234567"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("+380991234567", "country"),
        ("+1 202 555 0100", "country"),
        ("+8 999 123 45 67", "country"),
        ("+7 999 123 45 6", "format"),  # 9 digits after +7
        ("+7 999 123 45 678", "format"),  # 11 digits after +7
        ("9991234567", "format"),  # no country code
        ("999 123 45 67", "format"),
        ("69991234567", "format"),  # 11 digits not starting with 7 or 8
        ("899912345678", "format"),  # 12 digits
        ("+7 999 123 45 67 доб. 5", "format"),
        ("+7 999 123-45-67a", "format"),
        ("++79991234567", "format"),
        ("7+9991234567", "format"),
        ("", "format"),
    ],
)
def test_refused_phones(raw: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        phone(raw)
    assert caught.value.code == code
    assert caught.value.message.startswith("Телефон:")
    assert "+7 999 123-45-67" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ivanov@mail.ru", "ivanov@mail.ru"),
        ("  Ivanov.Ivan@Example.COM ", "ivanov.ivan@example.com"),
        ("i.i.ivanov+emk@yandex.ru", "i.i.ivanov+emk@yandex.ru"),
        ("o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk"),
        ("user_1@my-company.ru", "user_1@my-company.ru"),
        ("Иванов@Почта.РФ", "иванов@почта.рф"),
        ("ivanov@xn--80a1acny.xn--p1ai", "ivanov@xn--80a1acny.xn--p1ai"),
        ("a@b.io", "a@b.io"),
        # A domain that only contains a disposable one's name is not disposable.
        ("user@notmailinator.com.ru", "user@notmailinator.com.ru"),
        ("user@mymailinator.com", "user@mymailinator.com"),
    ],
)
def test_valid_email(raw: str, normalised: str) -> None:
    assert email(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "укажите адрес"),
        ("ivanov.mail.ru", "ровно один знак @"),
        ("ivanov@@mail.ru", "ровно один знак @"),
        ("ivanov@mail@ru", "ровно один знак @"),
        ("@mail.ru", "имя ящика"),
        ("ivanov@localhost", "домен с точкой"),
        ("ivanov@", "домен с точкой"),
        ("ivanov@mail.", "домен указан неверно"),
        ("ivanov@.mail.ru", "домен указан неверно"),
        ("ivanov@mail..ru", "домен указан неверно"),
        ("ivanov@mail.r", "домен указан неверно"),
        ("ivanov@mail.r1", "домен указан неверно"),
        ("ivanov@mail.123", "домен указан неверно"),
        ("ivanov@-mail.ru", "домен указан неверно"),
        ("ivanov@mail-.ru", "домен указан неверно"),
        ("ivanov@ma_il.ru", "домен указан неверно"),
        ("ivanov@mail.ru.", "домен указан неверно"),
        ("iva nov@mail.ru", "недопустимые символы"),
        (".ivanov@mail.ru", "лишние точки"),
        ("ivanov.@mail.ru", "лишние точки"),
        ("iva..nov@mail.ru", "лишние точки"),
        ('"ivanov"@mail.ru', "недопустимые символы"),
        ("i" * 65 + "@mail.ru", "слишком длинный"),
        ("ivanov@" + "a" * 64 + ".ru", "домен указан неверно"),
    ],
)
def test_malformed_email(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        email(raw)
    assert caught.value.code == "format"
    assert caught.value.message.startswith("Электронная почта:")
    assert fragment in caught.value.message
    assert "ivanov@mail.ru" in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "someone@mailinator.com",
        "someone@MAILINATOR.COM",
        "someone@10minutemail.com",
        "someone@guerrillamail.com",
        "someone@yopmail.com",
        "someone@temp-mail.org",
        "someone@trashmail.com",
        # A subdomain of a listed domain is disposable too.
        "someone@abc.mailinator.com",
        "someone@x.y.yopmail.fr",
    ],
)
def test_disposable_email(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        email(raw)
    assert caught.value.code == "disposable"
    assert "одноразовых" in caught.value.message


def test_disposable_list_is_shipped_and_well_formed() -> None:
    from importlib import resources

    text = resources.files("emk_identifiers").joinpath("disposable_domains.txt").read_text("utf-8")
    domains = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(domains) >= 100
    assert len(set(domains)) == len(domains)
    for domain in domains:
        assert domain == domain.strip().lower()
        assert "." in domain
        assert is_disposable_domain(domain)
        assert is_disposable_domain("inbox." + domain)
    for ordinary in ("mail.ru", "yandex.ru", "gmail.com", "inbox.ru", "bk.ru", "list.ru", "ya.ru"):
        assert not is_disposable_domain(ordinary)
