"""TOTP (RFC 6238 over RFC 4226 HOTP): the authenticator-app factor.

30-second steps, 6 digits, HMAC-SHA1 — what every authenticator app expects. A code is
accepted one step either side of now (clock drift), and a step once used is not accepted
again (the caller stores the last used step).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "ЭМК"


def new_secret() -> str:
    """A 160-bit secret, base32 without padding (as authenticator apps take it)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_at(secret: str, unix_time: float) -> str:
    return hotp(_key(secret), step_at(unix_time))


def matching_step(
    secret: str, code: str, *, unix_time: float, last_used_step: int | None, window: int = 1
) -> int | None:
    """The step ``code`` belongs to, if it is valid now and newer than the last one used."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret)
    now = step_at(unix_time)
    for step in range(now - window, now + window + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def otpauth_uri(secret: str, *, account: str) -> str:
    label = quote(f"{ISSUER}:{account}")
    query = urlencode(
        {"secret": secret, "issuer": ISSUER, "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"
