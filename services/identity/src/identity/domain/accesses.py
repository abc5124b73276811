"""What the owner reads of an access to their data: the codes services send, in Russian.
A code not listed here is shown as it came (a new action of a service reads oddly, but is
shown)."""

from __future__ import annotations

SERVICE_LABELS = {
    "identity": "Учётная запись",
    "applications": "Заявления",
    "documents": "Документы",
    "records": "Медицинская книжка",
    "notifications": "Уведомления",
}

ROLE_LABELS = {
    "citizen": "Гражданин",
    "operator": "Оператор",
    "medical_worker": "Медицинский работник",
    "employer": "Работодатель",
    "admin": "Администратор",
    "share_code": "Проверка по коду доступа",
    "system": "Система",
}

# Roles whose members' names the owner may see (staff act in their office, not privately).
STAFF_ROLES = frozenset({"operator", "medical_worker", "employer", "admin"})

RESOURCE_LABELS = {
    "application": "Заявление",
    "document": "Документ",
    "book": "Медицинская книжка",
    "person": "История уведомлений",
}

ACTION_LABELS = {
    "read": "Просмотр",
    "list": "Просмотр в списке",
    "read_metadata": "Просмотр сведений о документе",
    "read_content": "Просмотр содержимого документа",
    "upload": "Загрузка",
    "verified": "Документ принят",
    "rejected": "Документ отклонён",
    "read_history": "Просмотр истории книжки",
    "read_status": "Просмотр статуса книжки",
    "read_fhir": "Выгрузка книжки (FHIR)",
    "lookup": "Поиск книжки",
    "write": "Запись в книжку",
    "share_check": "Проверка книжки по коду доступа",
    "deliveries.read": "Просмотр истории уведомлений",
}


def label(labels: dict[str, str], code: str) -> str:
    return labels.get(code, code)
