"""A registration refused because one of its logins (phone, e-mail, СНИЛС) is someone's account,
answered exactly as if it were made — no account oracle.

The caller gets the same ``201`` with an id, and the contact steps that follow answer as they
would for an account whose codes the caller never received: wrong code, tries left, spent,
expired, a resend with its cooldown. A ghost's codes are random and sent to nobody (they are
not even six digits, so no typed code can match). The owners of the taken logins are told,
on their own contacts, that someone tried to register with their data
(``RegistrationAttempted``); nothing reaches the contacts typed in the attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.domain.otp import OneTimeCode
from identity.domain.user import CHANNELS, Channel, contact_context


@dataclass(frozen=True)
class Ghost:
    id: str
    codes: Mapping[Channel, OneTimeCode]
    expires_at: datetime  # then it is forgotten (a pending account's codes are long dead)


def unreachable_code(ghost_id: str, channel: Channel, *, key: bytes, now: datetime,
                     ttl: timedelta) -> OneTimeCode:  # fmt: skip
    """A code like any other — expiry, tries, resend cooldown — that nobody can type."""
    context = contact_context(ghost_id, channel)
    return OneTimeCode.issue(secrets.token_hex(16), key=key, context=context, now=now, ttl=ttl)


def ghost(ghost_id: str, *, key: bytes, now: datetime, code_ttl: timedelta,
          lifetime: timedelta) -> Ghost:  # fmt: skip
    codes = {
        channel: unreachable_code(ghost_id, channel, key=key, now=now, ttl=code_ttl)
        for channel in CHANNELS
    }
    return Ghost(ghost_id, codes, now + lifetime)
