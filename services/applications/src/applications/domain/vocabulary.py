"""What the applications speak of, as people read it: statuses, the field paths of a
draft and the kinds of attached documents, in Russian.

The applications service owns this vocabulary. Its answers show these labels, and its
``ApplicationStatusChanged`` events carry them (``status_label``, ``field_labels``,
``document_labels``), so the notifications' texts say the same thing without a copy.
"""

from __future__ import annotations

_ADDRESS = "Юридический адрес работодателя"
STATUS_LABELS: dict[str, str] = {
    "draft": "Черновик",
    "submitted": "Принято",
    "in_review": "В обработке",
    "clarification_requested": "Требуется уточнение",
    "approved": "Одобрено",
    "rejected": "Отклонено",
    "issued": "Готово к выдаче",
}
FIELD_LABELS: dict[str, str] = {
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
DOCUMENT_LABELS: dict[str, str] = {
    "passport": "Скан паспорта",
    "oms_policy": "Скан полиса ОМС",
    "medical_certificate": "Заключение медицинского осмотра",
}


def label_of(path: str) -> str:
    """How a person calls a field path or a document (``documents.passport``); an unknown
    path is shown as it is."""
    if path.startswith("documents."):
        kind = path.removeprefix("documents.")
        return DOCUMENT_LABELS.get(kind, kind)
    return FIELD_LABELS.get(path, path)


def document_label(kind: str) -> str:
    return DOCUMENT_LABELS.get(kind, kind)
