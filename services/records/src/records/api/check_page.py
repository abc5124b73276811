"""The public check as a page for people: what an employer sees after scanning the QR.

Server-rendered HTML in Russian, readable on a phone, with no script at all (the Content
Security Policy forbids any) and one inline style block allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from html import escape
from zoneinfo import ZoneInfo

from records.domain.shares import PublicView

_MOSCOW = ZoneInfo("Europe/Moscow")
_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "background:#f4f5f7;color:#1b1f24}"
    "main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}"
    "h1{font-size:1.1rem;font-weight:600;margin:0 0 1rem}"
    ".status{font-size:1.8rem;font-weight:700;padding:1rem;border-radius:.75rem;"
    "text-align:center;margin-bottom:1rem}"
    ".valid{background:#e3f4e8;color:#11632f}.not-valid{background:#fbe6e6;color:#8f1d1d}"
    ".neutral{background:#eceef1;color:#3b4450}"
    "dl{background:#fff;border-radius:.75rem;padding:1rem;margin:0}"
    "dt{font-size:.85rem;color:#5b6573;margin-top:.75rem}dt:first-child{margin-top:0}"
    "dd{margin:.15rem 0 0;font-size:1.1rem}"
    "p{font-size:.85rem;color:#5b6573}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

# Sent with both pages: nothing cached, nothing loaded from elsewhere, no referrer.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _day(value: date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else "—"


def _moment(value: datetime) -> str:
    return value.astimezone(_MOSCOW).strftime("%d.%m.%Y %H:%M (МСК)")


def valid_page(view: PublicView) -> str:
    css = "valid" if view.valid else "not-valid"
    rows = [
        ("Владелец", view.holder),
        ("Номер медицинской книжки", view.book_number),
        ("Действует до", _day(view.valid_until)),
        ("Следующий осмотр или аттестация", _day(view.next_due)),
        ("Проверено", _moment(view.checked_at)),
    ]
    listed = "\n".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in rows)
    body = (
        "<h1>Проверка электронной медицинской книжки</h1>\n"
        f'<div class="status {css}">{escape(view.status_label)}</div>\n'
        f"<dl>\n{listed}\n</dl>\n"
        "<p>Показаны только сведения о действии книжки. Медицинские сведения не раскрываются.</p>"
    )
    return _page(f"Медицинская книжка: {view.status_label}", body)


def invalid_page() -> str:
    """One page for a code that is unknown, expired or revoked: nothing tells which."""
    body = (
        "<h1>Проверка электронной медицинской книжки</h1>\n"
        '<div class="status neutral">Код недействителен</div>\n'
        "<p>Попросите владельца книжки показать новый код.</p>"
    )
    return _page("Код недействителен", body)


def too_many_page() -> str:
    body = (
        "<h1>Проверка электронной медицинской книжки</h1>\n"
        '<div class="status neutral">Слишком много проверок</div>\n'
        "<p>С этого адреса проверяли слишком часто. Повторите через минуту.</p>"
    )
    return _page("Слишком много проверок", body)
