"""The QR code of a public check URL, as a PNG (segno: pure Python, ISO/IEC 18004)."""

from __future__ import annotations

import io

import segno


def qr_png(url: str, *, scale: int = 8) -> bytes:
    """Error correction M (15 %): still readable from a phone screen or a creased printout."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
