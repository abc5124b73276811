"""Names, addresses and passport text typed decomposed (й as и + U+0306, ё as е + U+0308, as
some keyboards and copied text give them) are the same letters: taken, and kept composed."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from emk_testing import FakeClock
from identity.domain.entries import AddressEntry

from .fakes import Rig, rig
from .people import confirmed, personal_data, registration, staff_entry

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def decomposed(text: str) -> str:
    spelt = unicodedata.normalize("NFD", text)
    assert spelt != text  # it does hold a letter that decomposes
    return spelt


@pytest.fixture
def r() -> Rig:
    return rig(FakeClock(NOW))


async def test_a_decomposed_name_registers_and_is_stored_composed(r: Rig) -> None:
    entry = registration(
        last_name=decomposed("Йожикова"), first_name=decomposed("Алёна"), middle_name="Юрьевна"
    )
    user = await r.identity.register(entry)
    stored = r.store.users.users[user.id].person
    assert (stored.last_name, stored.first_name, stored.middle_name) == (
        "Йожикова",
        "Алёна",
        "Юрьевна",
    )
    assert stored.last_name == unicodedata.normalize("NFC", stored.last_name)
    assert len(stored.last_name) == len("Йожикова") == 8  # «Й» is one character again


async def test_a_decomposed_middle_name_and_staff_names_are_stored_composed(r: Rig) -> None:
    entry = registration(middle_name=decomposed("Алексеевна-Йовановна"))
    citizen = await r.identity.register(entry)
    assert r.store.users.users[citizen.id].person.middle_name == "Алексеевна-Йовановна"
    staff = await r.identity.create_staff(
        staff_entry(last_name=decomposed("Соловьёв"), first_name=decomposed("Йован")),
        created_by="admin-1",
    )
    person = r.store.users.users[staff.id].person
    assert (person.last_name, person.first_name) == ("Соловьёв", "Йован")


async def test_decomposed_addresses_and_passport_text_are_stored_composed(r: Rig) -> None:
    user = await confirmed(r)
    address = AddressEntry(
        region_code="86",
        postal_code=None,
        locality=decomposed("г. Йошкар-Ола"),
        street=decomposed("ул. Соловьиная Роща, ёлочный проезд"),
        house="1",
        flat=None,
    )
    entry = personal_data(registration_address=address, birth_place=decomposed("г. Орёл"))
    passport = replace(entry.passport, issued_by=decomposed("ОВД «Йошкар-Ола»"))
    entry = replace(entry, passport=passport)
    after = await r.identity.set_personal_data(user.id, entry)
    data = r.store.users.users[user.id].personal_data
    assert data is not None
    assert data == after.personal_data
    assert data.registration_address.locality == "г. Йошкар-Ола"
    assert data.registration_address.street == "ул. Соловьиная Роща, ёлочный проезд"
    assert data.actual_address == data.registration_address
    assert data.birth_place == "г. Орёл"
    assert data.passport.issued_by == "ОВД «Йошкар-Ола»"
