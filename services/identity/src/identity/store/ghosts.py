"""``ghost_registrations``: registrations answered as made though a login of theirs was taken
(``identity.domain.ghost``), with the events telling the owners, forgotten after a while."""

from __future__ import annotations

import secrets
from typing import Any

from emk_common.events import Envelope
from emk_common.mongo import update_and_read
from emk_common.service import Runtime
from identity.domain.ghost import Ghost
from identity.domain.otp import OneTimeCode
from identity.domain.user import CHANNELS, Channel
from identity.store.users import code_doc, code_from, later_tries

Doc = dict[str, Any]


class GhostStore:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.collection("ghost_registrations")
        self._outbox = runtime.outbox

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expiry")

    async def insert(self, ghost: Ghost, events: list[Envelope]) -> None:
        document: Doc = {
            "_id": ghost.id,
            "codes": {channel: code_doc(ghost.codes[channel]) for channel in CHANNELS},
            "expires_at": ghost.expires_at,
        }
        await self.collection.insert_one(self._outbox.insert(document, events))

    async def get(self, ghost_id: str) -> Ghost | None:
        doc = await self.collection.find_one({"_id": ghost_id}, {"codes": 1, "expires_at": 1})
        return None if doc is None else self._ghost(doc)

    async def count_try(self, ghost_id: str, channel: Channel, max_attempts: int) -> (
        OneTimeCode | None
    ):  # fmt: skip
        """Counts one try of the channel's code as an account's is counted; the code as this
        try left it, or None when the ghost is gone or the code out of tries."""
        path, token = f"codes.{channel}", secrets.token_hex(8)
        doc = await update_and_read(
            self.collection,
            {"_id": ghost_id, f"{path}.attempts": {"$lt": max_attempts}},
            {"$inc": {f"{path}.attempts": 1}, "$push": {f"{path}.tries": token}},
        )
        if doc is None:
            return None
        code = doc["codes"][channel]
        if token not in code.get("tries", []):
            return None  # a resend replaced the code right after this try
        code["attempts"] -= later_tries(code["tries"], token)
        return code_from(code)

    async def replace_code(self, ghost_id: str, channel: Channel, code: OneTimeCode) -> None:
        await self.collection.update_one(
            {"_id": ghost_id}, {"$set": {f"codes.{channel}": code_doc(code)}}
        )

    @staticmethod
    def _ghost(doc: Doc) -> Ghost:
        codes = {channel: code_from(doc["codes"][channel]) for channel in CHANNELS}
        return Ghost(doc["_id"], {c: code for c, code in codes.items() if code is not None},
                     doc["expires_at"])  # fmt: skip
