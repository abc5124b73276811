"""One-time codes leave identity only sealed for the notifications service.

A ``DeliverOtp`` command carries the destination, the code and its expiry inside an X25519
sealed box bound to the command's event id; the topic, the outbox and the logs see only
the channel, the purpose and the expiry.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from emk_common.catalog import DeliverOtp
from emk_common.crypto import seal
from emk_common.events import Envelope
from emk_common.settings import decode_keyring
from identity.domain.user import Channel
from identity.ports import Purpose


class SealedCodeCourier:
    """The courier: destination, code and expiry sealed for the notifications service's key."""

    def __init__(self, public_keys: dict[str, bytes], kid: str | None = None) -> None:
        if not public_keys:
            raise ValueError("NOTIFICATIONS_OTP_PUBLIC_KEYS is required to send one-time codes")
        self._kid = kid or sorted(public_keys)[-1]
        self._key = public_keys[self._kid]

    @classmethod
    def from_keyring(cls, raw: str, kid: str = "") -> SealedCodeCourier:
        return cls(decode_keyring(raw) if raw else {}, kid or None)

    def command(
        self,
        *,
        subject: str,
        user_id: str,
        channel: Channel,
        destination: str,
        code: str,
        purpose: Purpose,
        expires_at: datetime,
        at: datetime,
    ) -> Envelope:
        event_id = str(uuid.uuid4())
        sealed = seal(
            json.dumps(
                {"destination": destination, "code": code, "expires_at": expires_at.isoformat()}
            ).encode(),
            recipient_public_key=self._key,
            kid=self._kid,
            associated_data=event_id.encode(),
        )
        payload = DeliverOtp(
            user_id=user_id, channel=channel, purpose=purpose, expires_at=expires_at, sealed=sealed
        )
        return Envelope.wrap(payload, source="identity", subject=subject, at=at, event_id=event_id)
