"""Share codes: the citizen's way to let someone outside the platform check the book
(an employer with a phone scanning the QR), and what such a check shows.

A code is a bearer secret of 26 base32 characters (130 bits), unguessable, time-limited
(1–365 days) and revocable with immediate effect. The check shows only what DOMAIN.md allows:
valid or not — never why (``suspended`` would reveal a «Не годен» conclusion) —, the masked
name, the number, valid-until and the next due date. A code that is unknown, expired or
revoked is one and the same answer: nothing tells which.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from emk_common import catalog
from records.domain.book import Book
from records.domain.dates import moscow_date
from records.domain.validity import STATUS_LABELS, public_status_until

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CODE_LENGTH = 26  # 26 × 5 = 130 bits
MAX_DAYS = 365
RECENT_CHECKS = 100


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def looks_like_code(value: str) -> bool:
    """Whether ``value`` could be a code at all (anything else is refused unread)."""
    return len(value) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in value)


@dataclass(frozen=True)
class Share:
    id: str
    book_id: str
    holder_id: str
    code: str
    created_at: datetime
    expires_at: datetime
    employer_inn: str | None = None
    revoked_at: datetime | None = None
    # The Moscow day the holder was last told of a check (once a day per code at most).
    told_on: date | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def revoke(self, now: datetime) -> tuple[Share, catalog.ShareRevoked]:
        revoked = replace(self, revoked_at=now)
        event = catalog.ShareRevoked(book_id=self.book_id, holder_id=self.holder_id,
                                     share_id=self.id)  # fmt: skip
        return revoked, event

    def checked(self, now: datetime) -> list[catalog.ShareChecked]:
        """One more check: the event that tells the holder, at most once a Moscow day."""
        if self.told_on == moscow_date(now):
            return []
        told = catalog.ShareChecked(
            book_id=self.book_id, holder_id=self.holder_id, share_id=self.id, checked_at=now
        )
        return [told]


@dataclass(frozen=True)
class ShareChecks:
    """What the holder sees of the checks made with a code: how many, and when — the latest
    ``RECENT_CHECKS``, oldest first: the log of who-knows-who looking at the book."""

    count: int = 0
    recent: tuple[datetime, ...] = ()

    @property
    def last(self) -> datetime | None:
        return self.recent[-1] if self.recent else None


def share(
    book: Book,
    *,
    share_id: str,
    code: str,
    now: datetime,
    days: int,
    employer_inn: str | None,
) -> tuple[Share, catalog.BookShared]:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError("a share lasts 1 to 365 days")
    made = Share(
        id=share_id,
        book_id=book.id,
        holder_id=book.holder_id,
        code=code,
        created_at=now,
        expires_at=now + timedelta(days=days),
        employer_inn=employer_inn,
    )
    event = catalog.BookShared(book_id=book.id, holder_id=book.holder_id, share_id=share_id,
                               expires_at=made.expires_at)  # fmt: skip
    return made, event


@dataclass(frozen=True)
class PublicView:
    """What a check with a code shows, and nothing more."""

    valid: bool
    status_label: str
    holder: str
    book_number: str
    valid_until: date | None
    next_due: date | None
    checked_at: datetime


@dataclass(frozen=True)
class PublicCard:
    """What the public check may ever show of a book, whatever the day: kept on each of the
    book's shares, rewritten with every change of it (in the book's own write), so that a
    check reads its share and nothing else. The status is derived from ``valid_until`` on the
    day of the check; nothing here says why a book is not valid."""

    holder: str
    book_number: str
    valid_until: date | None  # None: not valid, whatever the day
    next_due: date | None


def public_card(book: Book) -> PublicCard:
    return PublicCard(
        holder=book.holder.masked_name,
        book_number=book.number,
        valid_until=book.valid_until,
        next_due=next_due(book),
    )


def public_view(card: PublicCard, now: datetime) -> PublicView:
    status = public_status_until(card.valid_until, moscow_date(now))
    valid = status != "not_valid"
    return PublicView(
        valid=valid,
        status_label=STATUS_LABELS[status],
        holder=card.holder,
        book_number=card.book_number,
        # Not valid: no dates, whichever the reason (a missing one would tell «Не годен»).
        valid_until=card.valid_until if valid else None,
        next_due=card.next_due if valid else None,
        checked_at=now,
    )


def next_due(book: Book) -> date | None:
    """The next exam or attestation date (never a vaccination: its period tells the disease)."""
    dates = [d.due_date for d in book.basis.due if d.kind != "vaccination"]
    return min(dates, default=None)
