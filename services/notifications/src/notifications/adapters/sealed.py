"""The keyring that opens one-time codes sealed by identity for this service
(``NOTIFICATIONS_OTP_PRIVATE_KEYS``: old keys still open)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from emk_common.catalog import SealedBox
from emk_common.crypto import open_sealed
from notifications.ports import OpenedCode


class Keyring:
    def __init__(self, private_keys: Mapping[str, bytes]) -> None:
        self._private_keys = dict(private_keys)

    def open(self, box: SealedBox, *, associated_data: bytes) -> OpenedCode:
        opened = json.loads(
            open_sealed(box, private_keys=self._private_keys, associated_data=associated_data)
        )
        return OpenedCode(destination=opened["destination"], code=opened["code"])
