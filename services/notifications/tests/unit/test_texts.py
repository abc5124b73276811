"""What a citizen reads when an application changes status, when a medical organisation is
given access to the book and when the book is checked with a share code: in-app, SMS and
e-mail."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from emk_common.catalog import ApplicationStatusChanged, ShareChecked
from notifications.domain import texts
from notifications.domain.texts import StatusChange
from notifications.store import message_doc, message_of

LABELS = {
    "draft": "Черновик",
    "submitted": "Принято",
    "in_review": "В обработке",
    "clarification_requested": "Требуется уточнение",
    "approved": "Одобрено",
    "rejected": "Отклонено",
    "issued": "Готово к выдаче",
}

# The names the applications service sends with its events (its vocabulary, not ours).
_ADDRESS = "Юридический адрес работодателя"
FIELD_LABELS = {
    "employer.name": "Наименование работодателя",
    "employer.inn": "ИНН работодателя",
    "employer.ogrn": "ОГРН/ОГРНИП работодателя",
    "employer.legal_address": _ADDRESS,
    "employer.legal_address.region_code": f"{_ADDRESS} — код региона",
    "employer.legal_address.postal_code": f"{_ADDRESS} — почтовый индекс",
    "employer.legal_address.locality": f"{_ADDRESS} — населённый пункт",
    "employer.legal_address.street": f"{_ADDRESS} — улица",
    "employer.legal_address.house": f"{_ADDRESS} — дом",
    "employer.legal_address.flat": f"{_ADDRESS} — помещение",
    "employer.hr_phone": "Телефон отдела кадров",
    "employer.hr_email": "Электронная почта отдела кадров",
    "employer.org_type": "Тип организации",
    "employer.ownership": "Форма собственности",
    "employer.department": "Подразделение",
    "employer.position": "Должность",
    "oms_policy": "Полис ОМС",
    "consent_personal_data": "Согласие на обработку персональных данных",
}
DOCUMENT_LABELS = {
    "passport": "Скан паспорта",
    "oms_policy": "Скан полиса ОМС",
    "medical_certificate": "Заключение медицинского осмотра",
}


def status_change(
    number: str | None,
    status: str,
    comment: str | None = None,
    fields: tuple[str, ...] = (),
    documents: tuple[str, ...] = (),
) -> StatusChange:
    """A status change as its event names it: labels for whatever the vocabulary knows."""
    return StatusChange(
        number=number,
        status=status,
        comment=comment,
        fields=fields,
        documents=documents,
        status_label=LABELS.get(status),
        field_labels={f: FIELD_LABELS[f] for f in fields if f in FIELD_LABELS},
        document_labels={d: DOCUMENT_LABELS[d] for d in documents if d in DOCUMENT_LABELS},
    )


CLARIFY = status_change(
    number="2026-000123",
    status="clarification_requested",
    comment="Скан нечитаем,\nпересканируйте первую страницу",
    fields=("employer.inn", "employer.branch_code"),
    documents=("passport",),
)


@pytest.mark.parametrize(("status", "label"), LABELS.items())
def test_every_status_is_named_in_russian_with_the_number_in_every_channel(
    status: str, label: str
) -> None:
    change = status_change(number="2026-000042", status=status)
    shown = texts.in_app(change)
    assert shown.title == f"Заявление № 2026-000042: {label}"
    assert f"«{label}»" in shown.body
    assert texts.sms(change).startswith(f"ЭМК: заявление № 2026-000042 — «{label}».")
    letter = texts.email(change)
    assert letter.subject == f"Заявление № 2026-000042: {label} — ЭМК"
    assert "заявления № 2026-000042" in letter.body
    assert f"«{label}»" in letter.body


def test_without_a_number_it_is_just_the_application() -> None:
    change = status_change(number=None, status="draft")
    assert texts.in_app(change).title == "Заявление: Черновик"
    assert texts.in_app(change).body.startswith("Статус заявления изменился: «Черновик».")
    assert texts.sms(change) == "ЭМК: заявление — «Черновик»."
    assert texts.email(change).subject == "Заявление: Черновик — ЭМК"
    assert "№" not in texts.email(change).body


def test_a_clarification_says_what_to_fix_in_russian_labels() -> None:
    shown = texts.in_app(CLARIFY)
    assert shown.body.splitlines() == [
        "Статус заявления № 2026-000123 изменился: «Требуется уточнение».",
        "Комментарий специалиста: Скан нечитаем,",
        "пересканируйте первую страницу",
        # An unknown path is shown as it is.
        "Что нужно исправить: ИНН работодателя; employer.branch_code; Скан паспорта.",
        "Исправьте указанное и отправьте заявление повторно в личном кабинете.",
    ]


def test_the_email_greets_by_name_and_lists_each_thing_to_fix() -> None:
    letter = texts.email(CLARIFY, addressee="Мария Сергеевна")
    assert letter.subject == "Заявление № 2026-000123: Требуется уточнение — ЭМК"
    assert letter.body.startswith("Здравствуйте, Мария Сергеевна!\n\n")
    assert "Комментарий специалиста:\nСкан нечитаем,\nпересканируйте первую страницу" in letter.body
    assert (
        "Что нужно исправить:\n— ИНН работодателя\n— employer.branch_code\n— Скан паспорта"
        in letter.body
    )
    assert texts.email(CLARIFY).body.startswith("Здравствуйте!\n\n")


def test_a_rejection_gives_the_reason_and_the_fields() -> None:
    change = status_change(
        number="2026-000077",
        status="rejected",
        comment="Не получен ответ на запрос уточнения",
        fields=("oms_policy", "consent_personal_data"),
        documents=("oms_policy", "medical_certificate"),
    )
    body = texts.in_app(change).body
    assert "Причина: Не получен ответ на запрос уточнения" in body
    assert (
        "Что нужно исправить: Полис ОМС; Согласие на обработку персональных данных; "
        "Скан полиса ОМС; Заключение медицинского осмотра." in body
    )
    assert "Вы можете подать новое заявление" in body


def test_other_statuses_never_list_fixes_even_if_the_event_has_fields() -> None:
    change = status_change(number="1", status="approved", comment="ok", fields=("employer.inn",))
    assert "исправить" not in texts.in_app(change).body
    assert "ИНН" not in texts.sms(change)
    assert "ok" not in texts.email(change).body


def test_an_sms_is_one_short_line_whatever_the_event_holds() -> None:
    sms = texts.sms(CLARIFY)
    assert sms == (
        "ЭМК: заявление № 2026-000123 — «Требуется уточнение». Исправьте: ИНН работодателя, "
        "employer.branch_code, Скан паспорта. Подробнее в личном кабинете."
    )
    many = status_change(
        number="2026-000123",
        status="rejected",
        comment="x" * 2000,
        fields=tuple(FIELD_LABELS),
        documents=tuple(DOCUMENT_LABELS),
    )
    text = texts.sms(many)
    assert "\n" not in text
    assert len(text) <= texts.SMS_MAX_CHARS
    assert "и ещё" in text
    assert "x" * 10 not in text  # the comment is for the e-mail and the account
    odd = status_change(number="1", status="rejected", fields=("a\nb" * 100,))
    assert texts.sms(odd) == "ЭМК: заявление № 1 — «Отклонено». Что исправить — в личном кабинете."


def test_facts_survive_storage_and_come_from_the_event() -> None:
    assert message_of(texts.APPLICATION_STATUS, message_doc(CLARIFY)) == CLARIFY
    event = ApplicationStatusChanged(
        application_id="a1",
        applicant_id="u1",
        number="2026-000123",
        status="clarification_requested",
        comment="  ",
        fields=["employer.inn"],
        documents=["passport"],
    )
    assert StatusChange.of(event) == StatusChange(
        "2026-000123", "clarification_requested", None, ("employer.inn",), ("passport",)
    )
    labelled = event.model_copy(
        update={
            "status_label": "Требуется уточнение",
            "field_labels": {"employer.inn": "ИНН работодателя"},
            "document_labels": {"passport": "Скан паспорта"},
        }
    )
    assert StatusChange.of(labelled) == status_change(
        "2026-000123", "clarification_requested", None, ("employer.inn",), ("passport",)
    )
    # The names are the event's: without them the codes are shown as they are.
    assert "«clarification_requested»" in texts.in_app(StatusChange.of(event)).body
    assert "«Требуется уточнение»" in texts.in_app(StatusChange.of(labelled)).body
    assert texts.addressee("Мария", " Сергеевна ") == "Мария Сергеевна"
    assert texts.addressee("Мария", None) == "Мария"
    assert texts.addressee(None, "") is None


def test_one_time_code_texts_carry_the_code_and_a_warning() -> None:
    assert texts.one_time_code("login", "482913") == (
        "Код для входа в ЭМК: 482913. Никому не сообщайте его, даже сотрудникам."
    )
    assert texts.one_time_code("contact_verification", "000111") == (
        "Код подтверждения ЭМК: 000111. Никому не сообщайте его."
    )
    assert set(texts.ONE_TIME_CODE_SUBJECTS) == set(texts.ONE_TIME_CODE_TEXTS)


def test_an_issued_book_is_named_by_its_number_in_every_channel() -> None:
    event = ApplicationStatusChanged(
        application_id="a1", applicant_id="u1", number="2026-000042", status="issued",
        previous_status="approved", book_number="77-01-000123-26", status_label="Готово к выдаче",
    )  # fmt: skip
    # As stored for the send.
    change = message_of(texts.APPLICATION_STATUS, message_doc(StatusChange.of(event)))
    assert isinstance(change, StatusChange)
    expected = "Номер медицинской книжки: 77-01-000123-26."
    assert expected in texts.in_app(change).body
    assert texts.sms(change) == (f"ЭМК: заявление № 2026-000042 — «Готово к выдаче». {expected}")
    assert len(texts.sms(change)) <= texts.SMS_MAX_CHARS
    assert expected in texts.email(change).body


def test_the_holder_is_told_which_organisation_opened_the_book_and_until_when() -> None:
    from datetime import UTC, datetime

    from emk_common.catalog import BookAccessGranted

    event = BookAccessGranted(
        book_id="b1", holder_id="u1", grant_id="g1", organization_id="1027700132195",
        organization_name="ГБУЗ «Городская поликлиника № 1 ДЗМ»", granted_by="w1",
        expires_at=datetime(2026, 12, 29, 22, 30, tzinfo=UTC), via="visit_code",
    )  # fmt: skip
    # As stored for the send.
    message = message_of(texts.BOOK_ACCESS, message_doc(texts.BookAccess.of(event)))
    assert isinstance(message, texts.BookAccess)
    shown = texts.in_app_of(message)
    assert shown.title == "Доступ к медицинской книжке"
    # 22:30 UTC is already the 30th in Moscow.
    assert "«ГБУЗ «Городская поликлиника № 1 ДЗМ»» получила доступ" in shown.body
    assert "по коду визита) до 30.12.2026" in shown.body
    assert "закройте доступ" in shown.body
    sms = texts.sms_of(message)
    assert sms.startswith("ЭМК: «ГБУЗ")
    assert len(sms) <= texts.SMS_MAX_CHARS
    letter = texts.email_of(message, "Мария Сергеевна")
    assert letter.body.startswith("Здравствуйте, Мария Сергеевна!")
    long = replace(message, organization="О" * 200)
    assert len(texts.sms_of(long)) <= texts.SMS_MAX_CHARS


# --- the book was checked with a share code --------------------------------------------------


BOOK_ID, SHARE_ID = "9f1c2a7e4b6d4e0f8a3b5c7d9e1f2a3b", "4d2e6f8a0b1c4d3e9f7a5b3c1d0e2f4a"


def _checked(at: datetime) -> texts.BookCheck:
    event = ShareChecked(book_id=BOOK_ID, holder_id="u1", share_id=SHARE_ID, checked_at=at)
    # As stored for the send, and read back by the dispatcher.
    message = message_of(texts.BOOK_CHECKED, message_doc(texts.BookCheck.of(event)))
    assert isinstance(message, texts.BookCheck)
    return message


def test_the_holder_is_told_when_the_book_was_checked_in_moscow_time() -> None:
    # 21:05 UTC on the 28th is 00:05 on the 29th in Moscow.
    check = _checked(datetime(2026, 11, 28, 21, 5, tzinfo=UTC))
    assert texts.kind_of(check) == texts.BOOK_CHECKED
    shown = texts.in_app_of(check)
    assert shown.title == "Проверка медицинской книжки"
    assert shown.body.splitlines()[:2] == [
        "Вашу медицинскую книжку проверили по коду доступа 29.11.2026 в 00:05 (МСК).",
        "Если вы не передавали код, отзовите его в разделе «Доступ к книжке».",
    ]
    assert "в тот же день мы не сообщаем" in shown.body


def test_a_check_sms_is_one_short_line_and_the_letter_greets_and_signs() -> None:
    check = _checked(datetime(2026, 11, 29, 9, 30, tzinfo=UTC))
    sms = texts.sms_of(check)
    assert sms == (
        "ЭМК: вашу медицинскую книжку проверили по коду доступа 29.11.2026 в 12:30 МСК. "
        "Если вы не передавали код, отзовите его в личном кабинете."
    )
    assert "\n" not in sms
    assert len(sms) <= texts.SMS_MAX_CHARS
    letter = texts.email_of(check, "Мария Сергеевна")
    assert letter.subject == "Проверка медицинской книжки — ЭМК"
    paragraphs = letter.body.split("\n\n")
    assert paragraphs[0] == "Здравствуйте, Мария Сергеевна!"
    assert "проверили по коду доступа 29.11.2026 в 12:30 (МСК)" in paragraphs[1]
    assert "отзовите его в разделе «Доступ к книжке»" in letter.body
    assert letter.body.endswith("Электронная медицинская книжка (ЭМК)")
    assert texts.email_of(check).body.startswith("Здравствуйте!\n\n")


def test_a_check_text_names_neither_the_share_nor_the_book_by_id() -> None:
    check = _checked(datetime(2026, 11, 29, 9, 30, tzinfo=UTC))
    everything = " ".join(
        [texts.in_app_of(check).body, texts.sms_of(check), texts.email_of(check).body]
    )
    assert SHARE_ID not in everything
    assert BOOK_ID not in everything
