"""One local account per staff role, made once by ``make run`` and printed next to the admin:
an operator, a medical worker of the demo clinic and an employer's HR person, so the frontend
team can sign in as each without making them by hand.

Made through identity's API as the admin would (``POST /api/v1/identity/staff``, after the
admin's own two-factor login, the code read from the local Maildir), and remembered in
``$EMK_VAR_DIR/secrets/staff.json`` (readable by the developer only). A second ``make run``
prints them again without making anything.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from secrets import randbelow
from typing import Any

from emk_devstack.demo import DemoError, Journey
from emk_devstack.demo_book import CLINIC_OGRN
from emk_devstack.stack import Stack

EMPLOYER_INN = "7710543822"  # ООО «Кофейня на Тверской» in deploy/local/registries
ROLES: dict[str, dict[str, str]] = {
    "operator": {"last_name": "Оператова", "first_name": "Ольга"},
    "medical_worker": {
        "last_name": "Врачева", "first_name": "Вера", "organization_id": CLINIC_OGRN,
    },
    "employer": {"last_name": "Кадрова", "first_name": "Карина", "organization_id": EMPLOYER_INN},
}  # fmt: skip


def accounts_file(stack: Stack) -> Path:
    return stack.var_dir / "secrets" / "staff.json"


async def ensure(stack: Stack) -> list[dict[str, str]]:
    """The staff accounts: read back if made before, else made now (the stack is running)."""
    path = accounts_file(stack)
    if path.exists():
        known: list[dict[str, str]] = json.loads(path.read_text())
        return known
    journey = Journey.on(stack, say=lambda _: None)
    try:
        admin = await _admin(journey, stack)
        made = [await _make(journey, admin, role, person) for role, person in ROLES.items()]
    finally:
        await journey.http.aclose()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(made, out, ensure_ascii=False, indent=2)
    return made


async def _admin(journey: Journey, stack: Stack, tries: int = 4) -> str:
    """The admin's token. Just after a start the notifications consumer may still be joining
    its group (Kafka hands it the partitions after the old members' session times out), so
    the first code can take longer than one wait: a new login sends a new one."""
    email, password = stack.secrets.admin_email, stack.secrets.admin_password
    for attempt in range(tries):
        try:
            return await journey.login(email, password, email)
        except DemoError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


async def _make(journey: Journey, admin: str, role: str, person: dict[str, Any]) -> dict[str, str]:
    email = f"{role.replace('_', '-')}@emk.local"
    password = f"Пароль-{secrets.token_urlsafe(12)}"
    body = {**person, "role": role, "email": email, "password": password,
            "phone": f"+79{randbelow(1_000_000_000):09d}"}  # fmt: skip
    try:
        await journey.call("POST", "identity", "/staff", token=admin, expect=201, json=body)
    except DemoError as exc:
        raise DemoError(
            f"could not make the local {role} account ({exc}); if it exists from an earlier "
            "run whose secrets/staff.json is gone, remove $EMK_VAR_DIR to start afresh"
        ) from None
    return {"role": role, "email": email, "password": password}
