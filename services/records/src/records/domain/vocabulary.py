"""The book's vocabularies (DOMAIN.md): codes in the API, Russian labels in answers, and the
periods the rules attach to them."""

from __future__ import annotations

from typing import Final

KIND_LABELS: Final = {
    "exam": "Медицинский осмотр",
    "vaccination": "Прививка",
    "lab_result": "Лабораторное или инструментальное исследование",
    "certification": "Гигиеническое обучение и аттестация",
}
EXAM_TYPES: Final = {"preliminary": "Предварительный", "periodic": "Периодический"}
CONCLUSIONS: Final = {
    "fit": "Годен",
    "fit_with_restrictions": "Ограниченно годен",
    "unfit": "Не годен",
}
CATEGORIES: Final = {
    "food": "Пищевая промышленность, общественное питание, торговля пищевыми продуктами",
    "children_food": "Питание детей",
    "water_supply": "Водоснабжение",
    "education": "Воспитание и обучение детей",
    "medical": "Медицинская деятельность",
    "communal": "Коммунальное и бытовое обслуживание",
    "other": "Иная деятельность",
}
DISEASES: Final = {
    "diphtheria": "Дифтерия",
    "tetanus": "Столбняк",
    "hepatitis_b": "Гепатит B",
    "measles": "Корь",
    "rubella": "Краснуха",
    "hepatitis_a": "Гепатит A",
    "shigellosis": "Шигеллёз (дизентерия Зонне)",
    "influenza": "Грипп",
}
TESTS: Final = {
    "fluorography": "Флюорография",
    "enteric_pathogens": "Исследование на возбудителей кишечных инфекций",
    "helminths": "Исследование на гельминтозы",
    "diphtheria_carriage": "Исследование на носительство возбудителей дифтерии",
    "typhoid_serology": "Серологическое исследование на брюшной тиф",
    "staphylococcus": "Исследование на стафилококк",
    "syphilis": "Исследование на сифилис",
    "gonorrhea": "Исследование на гонорею",
}
RESULTS: Final = {"normal": "Норма", "abnormal": "Отклонение от нормы"}
DUE_LABELS: Final = {
    "periodic_exam": "Периодический медицинский осмотр",
    "attestation": "Гигиеническая аттестация",
    "vaccination": "Ревакцинация",
}

# Periodic exams for the listed work are yearly.
EXAM_PERIOD_YEARS: Final = 1
# Hygiene attestation: yearly for food, children's food and water supply, every 2 years else.
YEARLY_ATTESTATION: Final = frozenset({"food", "children_food", "water_supply"})
# Revaccination: diphtheria and tetanus every 10 years, influenza yearly; the rest are courses.
REVACCINATION_YEARS: Final = {"diphtheria": 10, "tetanus": 10, "influenza": 1}
# By epidemic indication, food and water-supply workers are expected to be vaccinated against
# hepatitis A and shigellosis: until they are, those vaccinations are due (reminders only).
EPIDEMIC_EXPECTED: Final = {
    "food": ("hepatitis_a", "shigellosis"),
    "water_supply": ("hepatitis_a", "shigellosis"),
}
# A book is «истекающая» when a due date of its validity falls within this many days.
EXPIRING_WITHIN_DAYS: Final = 30


def attestation_years(category: str) -> int:
    return 1 if category in YEARLY_ATTESTATION else 2
