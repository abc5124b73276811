"""An e-mail made of blocks, rendered twice from the same content: the plain text people
received before, and HTML.

The HTML is one self-contained document: every piece of text escaped (``html.escape``, the
variables with the rest), styles inline only (no ``<style>``, no classes), no images, links,
scripts or anything fetched from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from notifications.domain.templates.model import Rendered


@dataclass(frozen=True)
class Paragraph:
    """A paragraph; a line break inside stays a line break (``<br>`` in HTML)."""

    text: str
    quiet: bool = False  # the signature: small and grey in HTML

    @property
    def plain(self) -> str:
        return self.text

    def html(self) -> str:
        style = _QUIET if self.quiet else _PARAGRAPH
        return f'<p style="{style}">{_lines(self.text)}</p>'


@dataclass(frozen=True)
class Points:
    """A heading and a list: «Что нужно исправить:» then «— …» a line each."""

    heading: str
    items: tuple[str, ...]

    @property
    def plain(self) -> str:
        return f"{self.heading}:\n" + "\n".join(f"— {item}" for item in self.items)

    def html(self) -> str:
        items = "".join(f'<li style="{_ITEM}">{_lines(item)}</li>' for item in self.items)
        heading = f'<p style="{_HEADING}">{_lines(self.heading)}:</p>'
        return f'{heading}<ul style="{_LIST}">{items}</ul>'


Block = Paragraph | Points


def letter(subject: str, blocks: Sequence[Block]) -> Rendered:
    """The e-mail: its subject, the blocks as plain text (a blank line between them) and
    the same blocks as HTML."""
    return Rendered(
        subject=subject,
        text="\n\n".join(block.plain for block in blocks),
        html=_page(subject, blocks),
    )


_BODY = "margin:0;padding:0;background-color:#f2f4f7;"
_CARD = (
    "max-width:600px;margin:0 auto;padding:24px 28px;background-color:#ffffff;"
    "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1b1f24;"
)
_PARAGRAPH = "margin:0 0 16px 0;"
_HEADING = "margin:0 0 4px 0;"
_LIST = "margin:0 0 16px 0;padding-left:20px;"
_ITEM = "margin:0 0 4px 0;"
_QUIET = "margin:24px 0 0 0;font-size:13px;color:#5f6b7a;"


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.split("\n"))


def _page(subject: str, blocks: Sequence[Block]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="ru">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(subject)}</title>",
            "</head>",
            f'<body style="{_BODY}">',
            f'<div style="{_CARD}">',
            *(block.html() for block in blocks),
            "</div>",
            "</body>",
            "</html>",
        ]
    )
