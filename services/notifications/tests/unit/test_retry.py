"""After each delivery attempt: sent, retried with a doubling pause, or given up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifications.domain.retry import EXPIRED, NO_CONTACT, RetryPolicy, State

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    max_attempts=5, first_delay=timedelta(seconds=30), max_delay=timedelta(minutes=3)
)


def test_pauses_double_up_to_the_ceiling() -> None:
    assert [POLICY.delay_after(n).total_seconds() for n in range(1, 7)] == [
        30, 60, 120, 180, 180, 180,
    ]  # fmt: skip
    assert POLICY.delay_after(10_000) == timedelta(minutes=3)


def test_a_failed_attempt_is_tried_again_later_until_attempts_run_out() -> None:
    first = POLICY.judge(1, "ConnectionError", NOW)
    assert first.state is State.PENDING
    assert first.next_attempt_at == NOW + timedelta(seconds=30)
    assert not first.final
    third = POLICY.judge(3, "SMTPServerDisconnected", NOW)
    assert third.next_attempt_at == NOW + timedelta(seconds=120)
    last = POLICY.judge(5, "ConnectionError", NOW)
    assert (last.state, last.next_attempt_at, last.final) == (State.FAILED, None, True)
    assert last.reported_as_failed


def test_success_ends_it_and_no_contact_ends_it_at_once() -> None:
    sent = POLICY.judge(2, None, NOW)
    assert (sent.state, sent.final, sent.reported_as_failed) == (State.SENT, True, False)
    unreachable = POLICY.judge(1, NO_CONTACT, NOW)
    assert (unreachable.state, unreachable.final) == (State.NO_CONTACT, True)
    assert unreachable.reported_as_failed


def test_a_single_attempt_policy_never_retries() -> None:
    once = RetryPolicy(1, timedelta(seconds=1), timedelta(seconds=1))
    assert once.judge(1, "OSError", NOW).state is State.FAILED


@pytest.mark.parametrize(
    ("attempts", "first", "ceiling"),
    [(0, 1, 1), (3, 0, 1), (3, 5, 1)],
)
def test_nonsense_policies_are_refused(attempts: int, first: int, ceiling: int) -> None:
    with pytest.raises(ValueError, match=r"attempt|delays"):
        RetryPolicy(attempts, timedelta(seconds=first), timedelta(seconds=ceiling))


def test_an_expired_code_ends_at_once_unreported_whatever_the_attempts_left() -> None:
    expired = POLICY.judge(1, EXPIRED, NOW)
    assert (expired.state, expired.next_attempt_at, expired.final) == (State.EXPIRED, None, True)
    assert not expired.reported_as_failed
