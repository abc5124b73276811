"""The account use cases on fakes of the ports and of the store: registration, confirming
contacts, personal data, staff accounts, the holder of a book, the first admin. No server:
the store itself (encryption, blind indexes, the outbox) is tested on MongoDB in tests/api.
Signing in and tokens: ``test_sign_in.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emk_common import catalog
from emk_common.field_errors import InvalidFieldsError
from emk_common.problems import Problem
from emk_testing import FakeClock
from identity.domain.otp import hash_code
from identity.domain.user import Status, contact_context
from identity.ports import Discrepancy

from .fakes import CODE_KEY, Rig, commands, rig
from .people import (
    STAFF_PASSWORD,
    confirmed,
    personal_data,
    phone_of,
    ready,
    registration,
    signed_in,
    staff_entry,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ADMIN = "admin-1"


@pytest.fixture
def r() -> Rig:
    return rig(FakeClock(NOW))


def refused(caught: pytest.ExceptionInfo[Problem]) -> tuple[int, str, list[tuple[str, str]]]:
    problem = caught.value
    return problem.status, problem.code, [(e.field, e.code) for e in problem.errors]


# --- registration -------------------------------------------------------------------------


async def test_a_registration_stores_the_account_and_sends_a_code_to_each_contact(r: Rig) -> None:
    user = await r.identity.register(registration(email="Anna.Reg@Example.RU"))
    assert user.status is Status.PENDING_CONTACTS
    assert r.store.users.users[user.id] == user
    assert user.person.email == "anna.reg@example.ru"  # normalised before it is kept
    assert user.password_hash == r.passwords.hash("Тёплый-дождь-в-мае-7")
    assert [(s.channel, s.destination, s.purpose) for s in r.courier.sent] == [
        ("sms", phone_of(user), "contact_verification"),
        ("email", "anna.reg@example.ru", "contact_verification"),
    ]
    assert all(s.expires_at == NOW + timedelta(minutes=5) for s in r.courier.sent)
    assert r.events == [catalog.UserRegistered(user_id=user.id, role="citizen")]
    # Both commands are staged with the account, in the same write.
    assert [e.data["channel"] for e in commands(r.store.users.outbox)] == ["sms", "email"]
    # Only a keyed hash of each code is kept, bound to the account and the channel.
    for sent in r.courier.sent:
        kept = user.contacts[sent.channel].code
        assert kept is not None
        context = contact_context(user.id, sent.channel)
        assert kept.code_hash == hash_code(sent.code, key=CODE_KEY, context=context)


async def test_a_wrong_registration_names_every_field_and_nothing_is_sent(r: Rig) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        await r.identity.register(registration(phone="12345", snils="112-233-445 00"))
    assert {e.field for e in caught.value.errors} == {"phone", "snils"}
    assert (r.store.users.users, r.store.users.outbox, r.courier.sent) == ({}, [], [])


async def test_a_registration_with_taken_logins_is_answered_as_made_and_the_owners_told(
    r: Rig,
) -> None:
    """No account oracle: the same answer as a new registration; no account, no code sent
    anywhere; each owner told which of their logins were used (kinds only, never values)."""
    first = await r.identity.register(registration())
    other = await r.identity.register(registration())
    outbox = list(r.store.users.outbox)
    again = registration(phone=phone_of(first), email=first.person.email, snils=other.person.snils)
    answered = await r.identity.register(again)
    assert (answered.status, answered.id not in (first.id, other.id)) == (
        Status.PENDING_CONTACTS,
        True,
    )
    assert list(r.store.users.users) == [first.id, other.id]
    assert r.store.users.outbox == outbox  # no account, and its codes' commands with it
    told = {e.subject: e.data for e in r.store.ghosts.outbox}
    assert told == {
        first.id: {"user_id": first.id, "logins": ["phone", "email"]},
        other.id: {"user_id": other.id, "logins": ["snils"]},
    }
    assert all(e.type == "emk.identity.RegistrationAttempted.v1" for e in r.store.ghosts.outbox)


async def test_the_owner_is_told_of_attempts_once_a_day(r: Rig) -> None:
    """Attempts from many addresses must not flood a person: one notice a day."""
    first = await r.identity.register(registration())
    for _ in range(3):
        await r.identity.register(registration(phone=phone_of(first)))
    assert len(r.store.ghosts.outbox) == 1
    r.clock.advance(days=1, seconds=1)
    await r.identity.register(registration(phone=phone_of(first)))
    assert len(r.store.ghosts.outbox) == 2


async def test_the_contact_steps_of_a_ghost_registration_answer_as_an_accounts_would(
    r: Rig,
) -> None:
    """Codes typed for it: wrong, tries counted down, then spent; a resend waits the same
    cooldown; it never becomes an account — and an id never given is still a 404."""
    first = await r.identity.register(registration())
    ghost = await r.identity.register(registration(phone=phone_of(first)))
    messages = []
    for _ in range(5):
        with pytest.raises(Problem) as caught:
            await r.identity.verify_contact(ghost.id, "sms", "123456")
        messages.append((refused(caught), caught.value.errors[0].message))
    assert messages[0] == ((422, "validation", [("code", "wrong_code")]),
                           "Неверный код. Осталось попыток: 4.")  # fmt: skip
    assert [m[0][2] for m in messages[1:]] == [[("code", "wrong_code")]] * 3 + [
        [("code", "exhausted")]
    ]
    with pytest.raises(Problem) as caught:
        await r.identity.resend(ghost.id, "sms")
    assert caught.value.status == 429  # the cooldown a real account has
    r.clock.advance(minutes=2)
    await r.identity.resend(ghost.id, "sms")
    with pytest.raises(Problem) as caught:
        await r.identity.verify_contact(ghost.id, "sms", "123456")
    assert refused(caught)[2] == [("code", "wrong_code")]  # a new code, five new tries
    # Nothing is staged for the ghost but the owner's notice: no code goes anywhere.
    assert [e.type for e in r.store.ghosts.outbox] == ["emk.identity.RegistrationAttempted.v1"]
    assert len(r.store.users.outbox) == 3  # the first account's event and its two codes
    with pytest.raises(Problem) as caught:
        await r.identity.verify_contact("never-given", "sms", "123456")
    assert caught.value.status == 404


async def test_a_staff_account_with_a_taken_login_is_refused_naming_it(r: Rig) -> None:
    """An admin making staff accounts is told plainly (no oracle to worry about there)."""
    first = await r.identity.create_staff(staff_entry(), created_by=ADMIN)
    with pytest.raises(Problem) as caught:
        await r.identity.create_staff(staff_entry(email=first.person.email), created_by=ADMIN)
    assert refused(caught) == (409, "already-registered", [("email", "already_registered")])


# --- contacts -----------------------------------------------------------------------------


async def test_both_contacts_confirmed_by_their_codes_move_the_account_on(r: Rig) -> None:
    user = await r.identity.register(registration())
    after_sms = await r.identity.verify_contact(user.id, "sms", r.courier.last_code(phone_of(user)))
    assert after_sms.status is Status.PENDING_CONTACTS
    after_email = await r.identity.verify_contact(
        user.id, "email", r.courier.last_code(user.person.email)
    )
    assert after_email.status is Status.PENDING_PERSONAL_DATA
    assert r.store.users.users[user.id].status is Status.PENDING_PERSONAL_DATA
    assert r.events[1:] == [
        catalog.ContactVerified(user_id=user.id, channel="sms"),
        catalog.ContactVerified(user_id=user.id, channel="email"),
    ]
    # A confirmed contact stays confirmed: a code entered again changes nothing.
    again = await r.identity.verify_contact(user.id, "sms", "000000")
    assert again.status is Status.PENDING_PERSONAL_DATA
    assert len(r.events) == 3


async def test_a_wrong_code_is_counted_and_five_burn_the_code(r: Rig) -> None:
    user = await r.identity.register(registration())
    right = r.courier.last_code(phone_of(user))
    wrong = "000000" if right != "000000" else "111111"
    for remaining in (4, 3, 2, 1):
        with pytest.raises(Problem) as caught:
            await r.identity.verify_contact(user.id, "sms", wrong)
        assert refused(caught) == (422, "validation", [("code", "wrong_code")])
        assert caught.value.errors[0].message == f"Неверный код. Осталось попыток: {remaining}."
    stored = r.store.users.users[user.id].contacts["sms"].code
    assert stored is not None
    assert stored.attempts == 4
    for code in (wrong, right):  # the fifth wrong try burns it: the right one is too late
        with pytest.raises(Problem) as burned:
            await r.identity.verify_contact(user.id, "sms", code)
        assert refused(burned) == (422, "validation", [("code", "exhausted")])
    assert not r.store.users.users[user.id].contacts["sms"].verified
    assert r.events == [catalog.UserRegistered(user_id=user.id, role="citizen")]


async def test_a_code_expires_after_five_minutes(r: Rig) -> None:
    user = await r.identity.register(registration())
    r.clock.advance(seconds=300)
    with pytest.raises(Problem) as caught:
        await r.identity.verify_contact(user.id, "sms", r.courier.last_code(phone_of(user)))
    assert refused(caught) == (422, "validation", [("code", "expired")])
    assert not r.store.users.users[user.id].contacts["sms"].verified


async def test_code_tries_are_limited_per_account() -> None:
    r = rig(FakeClock(NOW), verify_per_account_per_hour=2)
    user = await r.identity.register(registration())
    for _ in range(2):
        with pytest.raises(Problem) as wrong:
            await r.identity.verify_contact(user.id, "email", "000000")
        assert wrong.value.status == 422
    with pytest.raises(Problem) as limited:
        await r.identity.verify_contact(user.id, "email", r.courier.last_code(user.person.email))
    assert limited.value.status == 429
    assert int(limited.value.headers["Retry-After"]) > 0
    counted = r.store.users.users[user.id].contacts["email"].code
    assert counted is not None
    assert counted.attempts == 2
    r.clock.advance(hours=1)  # a new window; that code has expired meanwhile
    await r.identity.resend(user.id, "email")
    await r.identity.verify_contact(user.id, "email", r.courier.last_code(user.person.email))


async def test_a_new_code_waits_for_the_cooldown_and_replaces_the_old_one(r: Rig) -> None:
    user = await r.identity.register(registration())
    old = r.courier.last_code(phone_of(user))
    r.clock.advance(seconds=20)
    with pytest.raises(Problem) as early:
        await r.identity.resend(user.id, "sms")
    assert early.value.status == 429
    assert early.value.headers["Retry-After"] == "40"
    assert len(r.courier.sent) == 2
    r.clock.advance(seconds=40)
    await r.identity.resend(user.id, "sms")
    new = r.courier.last_code(phone_of(user))
    assert [s.purpose for s in r.courier.sent] == ["contact_verification"] * 3
    assert len(commands(r.store.users.outbox)) == 3
    if old != new:
        with pytest.raises(Problem):
            await r.identity.verify_contact(user.id, "sms", old)
    await r.identity.verify_contact(user.id, "sms", new)
    with pytest.raises(Problem) as done:
        await r.identity.resend(user.id, "sms")
    assert done.value.status == 409


async def test_an_unknown_account_is_not_found(r: Rig) -> None:
    for attempt in (
        r.identity.verify_contact("nobody", "sms", "123456"),
        r.identity.resend("nobody", "sms"),
        r.identity.set_personal_data("nobody", personal_data()),
    ):
        with pytest.raises(Problem) as caught:
            await attempt
        assert caught.value.status == 404


# --- personal data ------------------------------------------------------------------------


async def test_personal_data_checked_by_the_registry_makes_the_account_ready(r: Rig) -> None:
    user = await confirmed(r)
    after = await r.identity.set_personal_data(user.id, personal_data())
    assert after.status is Status.READY
    assert r.store.users.users[user.id].personal_data == after.personal_data
    [check] = r.registry.checked
    assert (check.snils, check.passport_series, check.passport_number) == (
        user.person.snils,
        "4509",
        "123456",
    )
    assert r.events[-2:] == [
        catalog.PersonalDataVerified(user_id=user.id),
        catalog.PersonalDataChanged(user_id=user.id),
    ]
    # Every later change is announced too; verified only once.
    await r.identity.set_personal_data(user.id, personal_data(birth_place="г. Сургут"))
    assert r.events[-1] == catalog.PersonalDataChanged(user_id=user.id)
    assert r.events.count(catalog.PersonalDataVerified(user_id=user.id)) == 1


async def test_personal_data_waits_for_both_contacts(r: Rig) -> None:
    user = await r.identity.register(registration())
    with pytest.raises(Problem) as caught:
        await r.identity.set_personal_data(user.id, personal_data())
    assert caught.value.status == 409
    assert caught.value.extensions == {"current_state": "pending_contacts"}
    assert (r.registry.checked, r.store.users.users[user.id]) == ([], user)


async def test_wrong_personal_data_is_named_and_not_sent_to_the_registry(r: Rig) -> None:
    user = await confirmed(r)
    outbox = list(r.store.users.outbox)
    with pytest.raises(InvalidFieldsError) as caught:
        await r.identity.set_personal_data(user.id, personal_data(birth_place="", inn="123"))
    assert {e.field for e in caught.value.errors} == {"birth_place", "inn"}
    assert r.registry.checked == []
    assert (r.store.users.users[user.id], r.store.users.outbox) == (user, outbox)


async def test_a_registry_discrepancy_is_refused_and_nothing_is_written(r: Rig) -> None:
    user = await confirmed(r)
    outbox = list(r.store.users.outbox)
    r.registry.discrepancies = [
        Discrepancy("passport.number", "registry_invalid", "Паспорт числится недействительным.")
    ]
    with pytest.raises(Problem) as caught:
        await r.identity.set_personal_data(user.id, personal_data())
    assert refused(caught) == (422, "validation", [("passport.number", "registry_invalid")])
    assert (r.store.users.users[user.id], r.store.users.outbox) == (user, outbox)


async def test_personal_data_is_for_citizens(r: Rig) -> None:
    staff = await r.identity.create_staff(staff_entry(), created_by=ADMIN)
    with pytest.raises(Problem) as caught:
        await r.identity.set_personal_data(staff.id, personal_data())
    assert caught.value.status == 403
    assert r.registry.checked == []


async def test_a_change_made_meanwhile_is_not_overwritten(r: Rig) -> None:
    user = await confirmed(r)
    outbox = list(r.store.users.outbox)
    r.store.users.racing = True
    with pytest.raises(Problem) as caught:
        await r.identity.set_personal_data(user.id, personal_data())
    assert caught.value.status == 409
    assert "изменились" in caught.value.detail
    assert r.store.users.users[user.id].personal_data is None
    assert r.store.users.outbox == outbox


# --- the holder of a book -----------------------------------------------------------------


async def test_records_alone_reads_a_holder_once_the_personal_data_is_in(r: Rig) -> None:
    pending = await confirmed(r)
    with pytest.raises(Problem) as not_yet:
        await r.identity.book_holder(pending.id, "records")
    assert not_yet.value.status == 404
    user = await ready(r)
    assert (await r.identity.book_holder(user.id, "records")).personal_data is not None
    with pytest.raises(Problem) as other:
        await r.identity.book_holder(user.id, "applications")
    assert other.value.status == 403


# --- staff --------------------------------------------------------------------------------


async def test_an_admin_creates_a_staff_account_ready_at_once(r: Rig) -> None:
    entry = staff_entry(role="medical_worker", organization_id="1027700132195")
    user = await r.identity.create_staff(entry, created_by=ADMIN)
    assert (user.status, user.role, user.organization_id) == (
        Status.READY,
        "medical_worker",
        "1027700132195",
    )
    assert all(c.verified for c in user.contacts.values())
    assert r.store.users.users[user.id] == user
    assert r.events == [
        catalog.StaffAccountCreated(
            user_id=user.id,
            role="medical_worker",
            organization_id="1027700132195",
            created_by=ADMIN,
        )
    ]
    assert r.courier.sent == []


async def test_a_staff_account_is_refused_without_its_organisation_or_with_taken_contacts(
    r: Rig,
) -> None:
    with pytest.raises(InvalidFieldsError) as missing:
        await r.identity.create_staff(staff_entry(role="employer"), created_by=ADMIN)
    assert [(e.field, e.code) for e in missing.value.errors] == [("organization_id", "missing")]
    first = await r.identity.create_staff(staff_entry(), created_by=ADMIN)
    with pytest.raises(Problem) as taken:
        await r.identity.create_staff(staff_entry(email=first.person.email), created_by=ADMIN)
    assert refused(taken) == (409, "already-registered", [("email", "already_registered")])
    assert list(r.store.users.users) == [first.id]
    assert len(r.events) == 1


async def test_deactivation_ends_every_session_and_closes_the_account(r: Rig) -> None:
    staff = await r.identity.create_staff(staff_entry(), created_by=ADMIN)
    sessions = [
        await signed_in(r, staff.person.email, STAFF_PASSWORD, staff.person.email) for _ in range(2)
    ]
    sids = [r.keys.signed[t.access_token]["sid"] for t in sessions]
    assert all([await r.identity.session_active(sid) for sid in sids])
    await r.identity.deactivate_staff(staff.id, ADMIN)
    assert not any([await r.identity.session_active(sid) for sid in sids])
    assert r.store.users.users[staff.id].deactivated_at == NOW
    assert r.events[-1] == catalog.StaffDeactivated(
        user_id=staff.id, role="operator", organization_id=None, deactivated_by=ADMIN
    )
    with pytest.raises(Problem) as closed:
        await r.identity.login(staff.person.email, STAFF_PASSWORD)
    assert (closed.value.status, closed.value.detail) == (
        403,
        "Учётная запись отключена администратором.",
    )
    with pytest.raises(Problem) as refresh:
        await r.identity.refresh(sessions[0].refresh_token)
    assert refresh.value.status == 401
    # Twice is a no-op, not an error, and announces nothing again.
    await r.identity.deactivate_staff(staff.id, ADMIN)
    assert len(r.events) == 2


async def test_only_other_staff_accounts_are_deactivated(r: Rig) -> None:
    citizen = await r.identity.register(registration())
    admin = await r.identity.create_staff(staff_entry(role="admin"), created_by=ADMIN)
    outbox = list(r.store.users.outbox)
    with pytest.raises(Problem) as not_staff:
        await r.identity.deactivate_staff(citizen.id, admin.id)
    assert not_staff.value.status == 404
    with pytest.raises(Problem) as oneself:
        await r.identity.deactivate_staff(admin.id, admin.id)
    assert oneself.value.status == 409
    assert r.store.users.users[admin.id].deactivated_at is None
    assert r.store.users.outbox == outbox


# --- start ----------------------------------------------------------------------------------


async def test_the_first_admin_is_made_once_at_start() -> None:
    r = rig(
        FakeClock(NOW),
        emk_bootstrap_admin_email="Root@Example.RU",
        emk_bootstrap_admin_password=STAFF_PASSWORD,
    )
    await r.identity.prepare()
    await r.identity.prepare()  # a second replica, or a restart
    assert (r.store.indexed, r.keys.active) == (2, True)
    [admin] = r.store.users.users.values()
    assert (admin.role, admin.person.email, admin.person.phone) == (
        "admin",
        "root@example.ru",
        None,
    )
    assert r.events == [
        catalog.StaffAccountCreated(
            user_id=admin.id, role="admin", organization_id=None, created_by="bootstrap"
        )
    ]
    # Its code goes by e-mail: it has no phone.
    challenge = await r.identity.login("root@example.ru", STAFF_PASSWORD)
    assert challenge.channel == "email"


async def test_without_an_admin_in_the_settings_none_is_made(r: Rig) -> None:
    await r.identity.prepare()
    assert r.store.users.users == {}
