"""Фамилия, имя, отчество."""

from __future__ import annotations

import pytest

from emk_identifiers import InvalidIdentifier, person_name_part


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Иванов", "Иванов"),
        ("  Иванов  ", "Иванов"),
        ("Салтыков-Щедрин", "Салтыков-Щедрин"),
        ("Д'Артаньян", "Д'Артаньян"),
        ("Д’Артаньян", "Д'Артаньян"),
        ("Оглы Мамедов", "Оглы Мамедов"),
        ("Алёна", "Алёна"),
        ("ЁЖИКОВ", "ЁЖИКОВ"),
        ("ж", "ж"),
        ("Я" * 100, "Я" * 100),
    ],
)
def test_valid_name_part(raw: str, normalised: str) -> None:
    assert person_name_part(raw, field="last_name", required=True) == normalised


@pytest.mark.parametrize(
    ("look_alike", "typed"),
    [
        ("o", "Иванoв"),
        ("a", "Ивaнов"),
        ("e", "Сергeев"),
        ("c", "Лиcицын"),
        ("p", "Пeтpов"),
        ("x", "Миxаил"),
        ("A", "Aнна"),
        ("B", "Bасилий"),
        ("E", "Eлена"),
        ("K", "Kирилл"),
        ("M", "Mария"),
        ("H", "Hина"),
        ("O", "Oльга"),
        ("P", "Pоман"),
        ("C", "Cветлана"),
        ("T", "Tимур"),
        ("X", "Xристина"),
        ("y", "Мypатов"),
        ("é", "Андрé"),
    ],
)
def test_latin_look_alikes_are_named(look_alike: str, typed: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        person_name_part(typed, field="last_name", required=True)
    assert caught.value.code == "latin_letters"
    assert caught.value.message.startswith("Фамилия: найдены латинские буквы")
    assert f"«{look_alike}»" in caught.value.message


def test_all_latin_name_is_refused_as_latin() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        person_name_part("Ivanov", field="first_name", required=True)
    assert caught.value.code == "latin_letters"
    assert caught.value.message.startswith("Имя:")
    assert "«I», «a», «n», «o», «v»" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Иванов2", "digits"),
        ("Петр 1", "digits"),
        ("Анна  Мария", "double_space"),
        ("-Иванов", "format"),
        ("Иванов-", "format"),
        ("'Иванов", "format"),
        ("Иванов’", "format"),
        ("Салтыков--Щедрин", "format"),
        ("Салтыков - Щедрин", "format"),
        ("Д''Артаньян", "format"),
        ("Иванов\tИван", "invalid_characters"),
        ("Иванов.", "invalid_characters"),
        ("Іванов", "invalid_characters"),  # Ukrainian І is not in А–Я
        ("Иван_ов", "invalid_characters"),
        ("Я" * 101, "too_long"),
    ],
)
def test_refused_name_part(raw: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        person_name_part(raw, field="middle_name", required=False)
    assert caught.value.code == code
    assert caught.value.message.startswith("Отчество:")


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_name_part(raw: str | None) -> None:
    assert person_name_part(raw, field="middle_name", required=False) is None
    with pytest.raises(InvalidIdentifier) as caught:
        person_name_part(raw, field="first_name", required=True)
    assert caught.value.code == "missing"
    assert caught.value.message.startswith("Имя: обязательное поле")


def test_a_russian_label_is_used_as_is() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        person_name_part("Иванoв", field="Фамилия руководителя", required=True)
    assert caught.value.message.startswith("Фамилия руководителя:")
