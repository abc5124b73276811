"""Region codes and addresses."""

from __future__ import annotations

from typing import Any

import pytest

from emk_identifiers import (
    REGIONS,
    InvalidFields,
    InvalidIdentifier,
    address,
    region_code,
    region_name,
)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("77", "г. Москва"),
        ("78", "г. Санкт-Петербург"),
        ("01", "Республика Адыгея"),
        (" 50 ", "Московская область"),
        ("83", "Ненецкий автономный округ"),
        ("89", "Ямало-Ненецкий автономный округ"),
        ("90", "Запорожская область"),
        ("91", "Республика Крым"),
        ("92", "г. Севастополь"),
        ("93", "Донецкая Народная Республика"),
        ("94", "Луганская Народная Республика"),
        ("95", "Херсонская область"),
    ],
)
def test_known_region(raw: str, name: str) -> None:
    assert region_code(raw) == raw.strip()
    assert region_name(raw) == name


@pytest.mark.parametrize("raw", ["00", "80", "81", "82", "84", "85", "88", "96", "98", "99"])
def test_unknown_region(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        region_code(raw)
    assert caught.value.code == "unknown_region"
    assert f"с кодом {raw} нет" in caught.value.message
    with pytest.raises(InvalidIdentifier):
        region_name(raw)


@pytest.mark.parametrize("raw", ["", "7", "077", "7a", "м7", "١٧"])
def test_region_code_format(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        region_code(raw)
    assert caught.value.code == "format"


def test_the_list_is_the_89_subjects() -> None:
    expected = {f"{n:02d}" for n in range(1, 80)} | {"83", "86", "87", "89"}
    expected |= {"90", "91", "92", "93", "94", "95"}
    assert set(REGIONS) == expected
    assert len(REGIONS) == 89
    assert all(name.strip() == name and name for name in REGIONS.values())


MOSCOW: dict[str, Any] = {
    "region_code": "77",
    "locality": "г. Москва",
    "street": "ул. Тверская",
    "house": "7",
}


def test_minimal_address() -> None:
    assert address(MOSCOW) == MOSCOW


def test_full_address_is_stripped() -> None:
    raw = {
        "region_code": " 77 ",
        "postal_code": " 125009 ",
        "locality": "  г. Москва ",
        "street": " ул. Тверская",
        "house": "7 ",
        "flat": " 12 ",
    }
    assert address(raw) == {
        "region_code": "77",
        "postal_code": "125009",
        "locality": "г. Москва",
        "street": "ул. Тверская",
        "house": "7",
        "flat": "12",
    }


def test_empty_optional_parts_are_left_out() -> None:
    assert address({**MOSCOW, "postal_code": None, "flat": "  "}) == MOSCOW


def errors_of(value: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidFields) as caught:
        address(value)
    return {field: code for field, code, _ in caught.value.errors}


def test_every_wrong_part_is_reported_at_once() -> None:
    value = {
        "region_code": "80",
        "postal_code": "12500",
        "locality": "   ",
        "house": "7" * 201,
    }
    with pytest.raises(InvalidFields) as caught:
        address(value)
    errors = caught.value.errors
    assert [(field, code) for field, code, _ in errors] == [
        ("region_code", "unknown_region"),
        ("postal_code", "format"),
        ("locality", "missing"),
        ("street", "missing"),
        ("house", "too_long"),
    ]
    messages = {field: message for field, _, message in errors}
    assert messages["postal_code"] == "Почтовый индекс: нужно 6 цифр, например 125009."
    assert messages["street"] == "Улица: обязательное поле."
    assert messages["house"] == "Дом: слишком длинное значение — не более 200 символов."
    assert str(caught.value).count(";") == 4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"region_code": None}, {"region_code": "missing"}),
        ({"region_code": 77}, {"region_code": "type"}),
        ({"region_code": "7"}, {"region_code": "format"}),
        ({"region_code": "00"}, {"region_code": "unknown_region"}),
        ({"postal_code": 125009}, {"postal_code": "format"}),
        ({"postal_code": "1250090"}, {"postal_code": "format"}),
        ({"street": ["ул. Тверская"]}, {"street": "type"}),
        ({"flat": "1" * 201}, {"flat": "too_long"}),
        ({"country": "RU"}, {"country": "unknown_field"}),
        ({"street": "", "house": ""}, {"street": "missing", "house": "missing"}),
    ],
)
def test_wrong_parts(change: dict[str, Any], expected: dict[str, str]) -> None:
    assert errors_of({**MOSCOW, **change}) == expected


def test_empty_address() -> None:
    assert errors_of({}) == {
        "region_code": "missing",
        "locality": "missing",
        "street": "missing",
        "house": "missing",
    }


def test_exactly_200_characters_is_allowed() -> None:
    assert address({**MOSCOW, "street": "у" * 200})["street"] == "у" * 200
