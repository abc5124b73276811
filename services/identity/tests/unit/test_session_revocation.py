"""Every early end of a session stages exactly one ``SessionRevoked`` for it, in the session's
own write: a logout, a reused refresh token (the whole family), a deactivated staff account
(each of its sessions). The event names the session only: no user id, no personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emk_common.catalog import SessionRevoked
from emk_common.events import Envelope
from emk_common.problems import Problem
from emk_testing import FakeClock
from identity.domain.user import User
from identity.service import Tokens

from .fakes import Rig, rig
from .people import PASSWORD, STAFF_PASSWORD, phone_of, ready, signed_in, staff_entry

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ADMIN = "admin-1"
# The access tokens' lifetime (fakes.SETTINGS) and the verifiers' greatest clock leeway.
REFUSE_UNTIL = NOW + timedelta(seconds=900 + 10)


@pytest.fixture
def r() -> Rig:
    return rig(FakeClock(NOW))


def sid(r: Rig, tokens: Tokens) -> str:
    session_id: str = r.keys.signed[tokens.access_token]["sid"]
    return session_id


def revocations(r: Rig) -> list[Envelope]:
    """What the sessions' outbox holds, every one a ``SessionRevoked``."""
    staged = r.store.sessions.outbox
    assert {e.type for e in staged} <= {SessionRevoked.event_type()}
    return staged


def assert_names_only_the_session(envelope: Envelope, session_id: str, user: User) -> None:
    assert envelope.subject == session_id
    assert envelope.topic == "emk.identity.sessions"
    assert envelope.data == {
        "session_id": session_id,
        "revoked_at": NOW.isoformat().replace("+00:00", "Z"),
        "refuse_until": REFUSE_UNTIL.isoformat().replace("+00:00", "Z"),
    }
    raw = envelope.model_dump_json()
    person = user.person
    for personal in (user.id, person.email, person.phone, person.snils, person.last_name):
        assert personal is None or personal not in raw


async def test_a_logout_stages_one_revocation_of_its_session_only(r: Rig) -> None:
    user = await ready(r)
    mine, other = [
        await signed_in(r, user.person.email, PASSWORD, phone_of(user)) for _ in range(2)
    ]
    await r.identity.logout(sid(r, mine), "someone-else")  # not theirs: nothing ends
    assert revocations(r) == []

    await r.identity.logout(sid(r, mine), user.id)
    await r.identity.logout(sid(r, mine), user.id)  # ended already: nothing more
    [revoked] = revocations(r)
    assert_names_only_the_session(revoked, sid(r, mine), user)
    assert SessionRevoked.model_validate(revoked.data).refuse_until == REFUSE_UNTIL
    assert await r.identity.session_active(sid(r, other))


async def test_a_reused_refresh_token_stages_one_revocation_of_its_family(r: Rig) -> None:
    user = await ready(r)
    first = await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    second = await r.identity.refresh(first.refresh_token)
    assert revocations(r) == []  # a rotation ends nothing

    for _ in range(2):  # the copy comes back twice: the family ends once
        with pytest.raises(Problem) as spent:
            await r.identity.refresh(first.refresh_token)
        assert spent.value.status == 401
    with pytest.raises(Problem):
        await r.identity.refresh(second.refresh_token)
    [revoked] = revocations(r)
    assert_names_only_the_session(revoked, sid(r, second), user)
    assert sid(r, first) == sid(r, second)


async def test_an_unknown_refresh_token_revokes_nothing(r: Rig) -> None:
    user = await ready(r)
    await signed_in(r, user.person.email, PASSWORD, phone_of(user))
    with pytest.raises(Problem):
        await r.identity.refresh("never-issued")
    assert revocations(r) == []


async def test_a_deactivation_stages_one_revocation_per_live_session(r: Rig) -> None:
    staff = await r.identity.create_staff(staff_entry(), created_by=ADMIN)
    assert staff.person.phone is not None
    sessions = [
        await signed_in(r, staff.person.email, STAFF_PASSWORD, staff.person.email) for _ in range(3)
    ]
    await r.identity.logout(sid(r, sessions[0]), staff.id)  # ended before: not again
    citizen = await ready(r)
    untouched = await signed_in(r, citizen.person.email, PASSWORD, phone_of(citizen))
    before = len(revocations(r))

    await r.identity.deactivate_staff(staff.id, ADMIN)
    await r.identity.deactivate_staff(staff.id, ADMIN)  # twice: nothing more
    staged = revocations(r)[before:]
    assert sorted(e.subject for e in staged) == sorted(sid(r, t) for t in sessions[1:])
    for envelope in staged:
        assert_names_only_the_session(envelope, envelope.subject, staff)
    assert not any([await r.identity.session_active(sid(r, t)) for t in sessions])
    assert await r.identity.session_active(sid(r, untouched))
