"""The use cases of the identity service, one entry class grouped by use case: accounts
(``accounts.py``) and signing in (``sign_in.py``) over what they share (``core.py``).
Refusals become problem+json in ``problems.py``."""

from __future__ import annotations

from emk_common.problems import Problem
from identity.domain.user import User
from identity.service.accounts import Accounts
from identity.service.sign_in import SignIn, Tokens

__all__ = ["Identity", "Tokens"]


class Identity(Accounts, SignIn):
    async def book_holder(self, user_id: str, caller: str) -> User:
        """What a medical book shows of its holder is for the records service alone, and
        only once the personal data is entered."""
        if caller != "records":
            raise Problem.forbidden(f"Сервису «{caller}» не разрешено читать данные держателя.")
        user = await self.require(user_id)
        if not user.is_citizen or user.personal_data is None:
            raise Problem.not_found("Персональные данные не заполнены.")
        return user

    async def prepare(self) -> None:
        """On start: indexes, a signing key, the first admin."""
        await self.store.ensure_indexes()
        await self.keys.ensure_active()
        await self.bootstrap_admin()
