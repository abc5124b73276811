"""What the applications service needs from outside, as protocols; ``adapters/`` implements
them, tests replace them through ``build(...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from applications.domain.registry import Lookup

Peer = Literal["identity", "documents"]


class PeerUnavailableError(Exception):
    """A peer service did not answer in time, or answered with an error: try again later."""

    def __init__(self, peer: Peer) -> None:
        super().__init__(f"{peer} unavailable")
        self.peer = peer


class SignedOutError(Exception):
    """A peer does not accept the caller's token (or the account is gone): sign in again."""


@dataclass(frozen=True)
class OwnDocument:
    document_id: str
    kind: str
    status: str


class Upstream(Protocol):
    """Identity and documents, asked on the caller's behalf with the caller's own token, so
    that they apply their own rules: someone else's document is simply not found."""

    async def account_status(self, authorization: str) -> str:
        """The caller's account status in identity at this moment (``ready`` or not yet)."""
        ...

    async def own_document(self, authorization: str, document_id: str) -> OwnDocument | None:
        """The caller's document, or None when it is unknown or someone else's."""
        ...


class Egrul(Protocol):
    """ЕГРЮЛ/ЕГРИП (local adapter: ``deploy/local/registries/organisations.json``)."""

    async def find(self, inn: str, ogrn: str) -> Lookup:
        """What the register says about this ИНН and ОГРН/ОГРНИП (both format-checked)."""
        ...
