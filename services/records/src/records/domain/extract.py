"""The printable extract of a book: what the paper shows, in Russian, ready to be laid out.

For people whose employer still wants paper. The holder prints it, so it holds what the holder
reads on the book page (the exams with their conclusions, the hygiene attestation, the
vaccinations — each record's current version), not the masked public view; the share code
whose QR it carries lets the reader check on line that the book is still valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from records.domain.book import Book, RecordVersion
from records.domain.dates import MOSCOW, moscow_date
from records.domain.shares import Share
from records.domain.validity import STATUS_LABELS, public_status
from records.domain.vocabulary import (
    CATEGORIES,
    CONCLUSIONS,
    DISEASES,
    DUE_LABELS,
    EXAM_TYPES,
)

TITLE = "Выписка из электронной медицинской книжки"
# How a record of one kind is printed: its title and the lines of details.
Shown = Callable[[Mapping[str, Any]], tuple[str, tuple[str, ...]]]


@dataclass(frozen=True)
class Entry:
    """One record as printed: its date, what it is, the details, who made it."""

    date: date
    title: str
    details: tuple[str, ...]
    made_by: str


@dataclass(frozen=True)
class Due:
    label: str
    due_date: date


@dataclass(frozen=True)
class Extract:
    holder_name: str  # in full: «Иванов Иван Иванович»
    birth_date: date
    number: str
    valid: bool
    status_label: str  # «Действует» / «Не действует»
    valid_until: date | None
    exams: tuple[Entry, ...]
    certifications: tuple[Entry, ...]
    vaccinations: tuple[Entry, ...]
    due: tuple[Due, ...]
    made_at: datetime  # Moscow time
    code: str  # the share code its QR carries
    url: str  # the public check page of that code
    code_expires_at: datetime  # Moscow time

    @property
    def file_name(self) -> str:
        """ASCII only: a ``Content-Disposition`` filename every client reads alike."""
        return f"emk-{self.number}-{self.made_at:%Y%m%d}.pdf"


def extract_of(book: Book, share: Share, *, url: str, now: datetime) -> Extract:
    """The extract of ``book`` (read with its records) made at ``now`` with ``share``."""
    today = moscow_date(now)
    status = book.status(today)
    holder = book.holder
    current = book.current_records()
    return Extract(
        holder_name=" ".join(
            part for part in (holder.last_name, holder.first_name, holder.middle_name) if part
        ),
        birth_date=holder.birth_date,
        number=book.number,
        valid=public_status(status) != "not_valid",
        status_label=STATUS_LABELS[status],
        valid_until=book.valid_until,
        exams=_entries(current, "exam", _exam),
        certifications=_entries(current, "certification", _certification),
        vaccinations=_entries(current, "vaccination", _vaccination),
        due=tuple(
            Due(_due_label(d.kind, d.item), d.due_date)
            for d in sorted(book.basis.due, key=lambda d: d.due_date)
        ),
        made_at=now.astimezone(MOSCOW),
        code=share.code,
        url=url,
        code_expires_at=share.expires_at.astimezone(MOSCOW),
    )


def _entries(current: Iterable[RecordVersion], kind: str, shown: Shown) -> tuple[Entry, ...]:
    """The records of one kind, newest first."""
    chosen = sorted((v for v in current if v.kind == kind), key=lambda v: v.date, reverse=True)
    return tuple(Entry(v.date, *shown(v.content), made_by=_made_by(v)) for v in chosen)


def _exam(content: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    exam_type = EXAM_TYPES.get(content.get("exam_type", ""), content.get("exam_type", ""))
    title = f"{exam_type} медицинский осмотр"
    details = [f"Заключение: {_label(CONCLUSIONS, content.get('conclusion'))}"]
    if content.get("restriction"):
        details.append(f"Ограничения: {content['restriction']}")
    specialists = content.get("specialists")
    if isinstance(specialists, list) and specialists:
        details.append("Специалисты: " + ", ".join(str(s) for s in specialists))
    if content.get("recommendations"):
        details.append(f"Рекомендации: {content['recommendations']}")
    return title, tuple(details)


def _certification(content: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    passed = "аттестация пройдена" if content.get("passed") is True else "аттестация не пройдена"
    title = f"Гигиеническое обучение: {passed}"
    return title, (f"Вид деятельности: {_label(CATEGORIES, content.get('category'))}",)


def _vaccination(content: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    title = f"Прививка: {_label(DISEASES, content.get('disease'))}"
    details = [f"Вакцина: {content.get('vaccine', '—')}"]
    if content.get("series"):
        details.append(f"Серия: {content['series']}")
    if content.get("dose") is not None:
        details.append(f"Доза: {content['dose']}")
    return title, ("; ".join(details),)


def _made_by(version: RecordVersion) -> str:
    author = version.author.name
    return f"{version.organization.name}, {author}" if author else version.organization.name


def _label(labels: Mapping[str, str], code: Any) -> str:
    return labels.get(code, str(code)) if isinstance(code, str) else "—"


def _due_label(kind: str, item: str | None) -> str:
    label = DUE_LABELS.get(kind, kind)
    return f"{label}: {DISEASES.get(item, item)}" if item else label
