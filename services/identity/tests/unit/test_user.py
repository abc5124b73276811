"""The account aggregate and the rules of what people enter: no servers, no clock but ours."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from identity.domain import entries
from identity.domain.entries import (
    AddressEntry,
    PassportEntry,
    PersonalDataEntry,
    RegistrationEntry,
    StaffEntry,
)
from identity.domain.otp import OneTimeCode, Verdict
from identity.domain.user import CHANNELS, Channel, Person, Status, User, contact_context

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PERSON = Person(
    last_name="Петрова",
    first_name="Анна",
    middle_name="Игоревна",
    phone="+79991234567",
    email="anna@example.ru",
    birth_date=date(1992, 2, 29),
    sex="F",
    snils="11223344595",
)


def citizen() -> User:
    ttl = timedelta(minutes=5)
    codes: dict[Channel, OneTimeCode] = {
        channel: OneTimeCode.issue(
            "123456", key=KEY, context=contact_context("u1", channel), now=NOW, ttl=ttl
        )
        for channel in CHANNELS
    }
    user, events = User.citizen(
        user_id="u1", person=PERSON, password_hash="h", codes=codes, now=NOW
    )
    assert events == [catalog.UserRegistered(user_id="u1", role="citizen")]
    return user


def test_both_contacts_confirmed_by_their_codes_move_the_account_on() -> None:
    user = citizen()
    sms = user.confirm_contact("sms", "123456", key=KEY, now=NOW, max_attempts=5)
    assert sms.verdict is Verdict.ACCEPTED
    assert sms.user.status is Status.PENDING_CONTACTS
    assert sms.events == [catalog.ContactVerified(user_id="u1", channel="sms")]
    mail = sms.user.confirm_contact("email", "123456", key=KEY, now=NOW, max_attempts=5)
    assert mail.user.status is Status.PENDING_PERSONAL_DATA
    assert mail.user.contacts["email"].code is None
    again = mail.user.confirm_contact("email", "000000", key=KEY, now=NOW, max_attempts=5)
    assert again.verdict is Verdict.ACCEPTED
    assert again.user is mail.user
    assert again.events == []


def test_a_wrong_contact_code_is_counted_and_changes_nothing_else() -> None:
    user = citizen()
    check = user.confirm_contact("sms", "000000", key=KEY, now=NOW, max_attempts=5)
    assert check.verdict is Verdict.WRONG
    assert check.remaining == 4
    assert check.events == []
    code = check.user.contacts["sms"].code
    assert code is not None
    assert code.attempts == 1
    assert check.user.status is Status.PENDING_CONTACTS
    assert not check.user.contacts["sms"].verified


def counted(user: User, channel: Channel, tries: int) -> User:
    """The account as the store leaves it after counting ``tries`` tries of the sent code."""
    code = user.contacts[channel].code
    assert code is not None
    return user.with_contact_code(channel, replace(code, attempts=code.attempts + tries))


def test_a_counted_try_is_judged_as_the_try_that_made_the_count() -> None:
    user = citizen()
    first = counted(user, "sms", 1).confirm_counted_contact(
        "sms", "000000", key=KEY, now=NOW, max_attempts=5
    )
    assert (first.verdict, first.remaining) == (Verdict.WRONG, 4)
    fifth = counted(user, "sms", 5).confirm_counted_contact(
        "sms", "000000", key=KEY, now=NOW, max_attempts=5
    )
    assert (fifth.verdict, fifth.remaining) == (Verdict.EXHAUSTED, 0)
    right = counted(user, "sms", 5).confirm_counted_contact(
        "sms", "123456", key=KEY, now=NOW, max_attempts=5
    )
    assert right.verdict is Verdict.ACCEPTED  # the fifth try may be the right code
    assert right.user.contacts["sms"].verified
    late = counted(user, "sms", 6).confirm_counted_contact(
        "sms", "123456", key=KEY, now=NOW, max_attempts=5
    )
    assert late.verdict is Verdict.EXHAUSTED


def test_personal_data_is_verified_once_and_announced_every_time() -> None:
    user = citizen()
    data = entries.personal_data(
        personal_data_entry(), birth_date=date(1992, 2, 29), today=NOW.date()
    )
    first, events = user.with_personal_data(data)
    assert first.status is Status.READY
    assert [type(e) for e in events] == [catalog.PersonalDataVerified, catalog.PersonalDataChanged]
    _, again = first.with_personal_data(data)
    assert [type(e) for e in again] == [catalog.PersonalDataChanged]


def test_the_second_factor_is_the_app_once_enrolled() -> None:
    user = citizen()
    assert user.second_factor == "sms"
    with pytest.raises(ValueError, match="enrolled"):
        user.with_totp(7)
    enrolled, events = user.enrolling_totp("SECRET").with_totp(7)
    assert enrolled.second_factor == "totp"
    assert enrolled.totp_pending is None
    assert events == [catalog.TwoFactorChanged(user_id="u1", method="totp", enabled=True)]
    staff, _ = User.staff(
        user_id="s1",
        role="operator",
        person=PERSON,
        organization_id=None,
        password_hash="h",
        created_by=None,
        now=NOW,
    )
    assert staff.second_factor == "email"
    assert staff.status is Status.READY


def test_deactivating_twice_changes_nothing() -> None:
    staff, created = User.staff(
        user_id="s1",
        role="medical_worker",
        person=PERSON,
        organization_id="1027700132195",
        password_hash="h",
        created_by=None,
        now=NOW,
    )
    assert created[0] == catalog.StaffAccountCreated(
        user_id="s1",
        role="medical_worker",
        organization_id="1027700132195",
        created_by="bootstrap",
    )
    closed, events = staff.deactivated("admin", NOW)
    assert closed.deactivated_at == NOW
    assert len(events) == 1
    assert closed.deactivated("admin", NOW) == (closed, [])


def registration(**changes: object) -> RegistrationEntry:
    fields: dict[str, object] = {
        "last_name": "Петрова",
        "first_name": "Анна",
        "middle_name": None,
        "birth_date": date(1992, 2, 29),
        "sex": "F",
        "phone": "+7 (999) 123-45-67",
        "email": "Anna@Example.RU",
        "password": "Тёплый-дождь-в-мае-7",
        "snils": "112-233-445 95",
    }
    fields.update(changes)
    return RegistrationEntry(**fields)  # type: ignore[arg-type]


def fields_of(error: pytest.ExceptionInfo[InvalidFieldsError]) -> dict[str, str]:
    return {e.field: e.code for e in error.value.errors}


def test_a_registration_comes_out_normalised() -> None:
    person = entries.citizen(registration(), today=NOW.date())
    assert person.phone == "+79991234567"
    assert person.email == "anna@example.ru"
    assert person.snils == "11223344595"
    assert person.middle_name is None


def test_every_wrong_field_of_a_registration_is_reported_at_once() -> None:
    with pytest.raises(InvalidFieldsError) as error:
        entries.citizen(
            registration(
                first_name="Анна1",
                birth_date=date(2090, 1, 1),
                snils="112-233-445 96",
                password="qwerty",
            ),
            today=NOW.date(),
        )
    assert fields_of(error) == {
        "first_name": "digits",
        "birth_date": "future",
        "snils": "checksum",
        "password": "too_short",
    }


def test_a_medical_worker_belongs_to_an_organisation() -> None:
    entry = StaffEntry(
        role="medical_worker",
        last_name="Петрова",
        first_name="Анна",
        middle_name=None,
        email="doc@example.ru",
        phone="+79990001122",
        password="Врачебный-пароль-2026",
        organization_id=None,
    )
    with pytest.raises(InvalidFieldsError) as error:
        entries.staff(entry)
    assert fields_of(error) == {"organization_id": "missing"}
    assert [e.message for e in error.value.errors] == ["Укажите организацию сотрудника."]


def personal_data_entry(**changes: object) -> PersonalDataEntry:
    address = AddressEntry(
        region_code="86",
        postal_code=None,
        locality="г. Сургут",
        street="ул. Ленина",
        house="1",
        flat=None,
    )
    fields: dict[str, object] = {
        "passport": PassportEntry(
            series="4509",
            number="123456",
            issued_at=date(2012, 3, 1),
            issued_by="ОВД",
            division_code="770-002",
        ),
        "birth_place": "г. Москва",
        "registration_address": address,
        "actual_address": None,
        "oms_policy": None,
        "inn": None,
    }
    fields.update(changes)
    return PersonalDataEntry(**fields)  # type: ignore[arg-type]


def test_the_actual_address_is_the_registration_address_unless_given() -> None:
    data = entries.personal_data(
        personal_data_entry(), birth_date=date(1992, 2, 29), today=NOW.date()
    )
    assert data.actual_address == data.registration_address
    assert data.passport.division_code == "770-002"


def test_a_passport_before_the_fourteenth_birthday_and_blanks_are_named() -> None:
    passport = PassportEntry(
        series="4509",
        number="123456",
        issued_at=date(2000, 1, 1),
        issued_by="",
        division_code="770-002",
    )
    with pytest.raises(InvalidFieldsError) as error:
        entries.personal_data(
            personal_data_entry(passport=passport, birth_place=""),
            birth_date=date(1992, 2, 29),
            today=NOW.date(),
        )
    assert fields_of(error) == {
        "passport.issued_at": "too_young",
        "passport.issued_by": "missing",
        "birth_place": "missing",
    }
