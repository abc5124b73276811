"""Accounts (``users``), with their pending events.

Personal data never reaches the database in clear: a user's registered identity is one
AES-GCM token (``pii``, bound to the user id), their personal data another
(``personal_data``), and the values people log in with — phone, e-mail, СНИЛС — are findable
only through keyed blind indexes (``index.*``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from emk_common.clock import Clock
from emk_common.crypto import BlindIndex, FieldCipher
from emk_common.events import Envelope
from emk_common.mongo import update_and_read
from emk_common.service import Runtime
from identity.domain.logins import LoginKind
from identity.domain.otp import OneTimeCode
from identity.domain.user import (
    CHANNELS,
    Address,
    Channel,
    Contact,
    Passport,
    Person,
    PersonalData,
    Status,
    Totp,
    User,
)
from identity.ports import LoginTakenError

Doc = dict[str, Any]
LOGIN_KINDS: tuple[LoginKind, ...] = ("phone", "email", "snils")


class UserStore:
    """``unconfirmed_for``: a citizen's account whose contacts are not both confirmed this long
    after registration is deleted by MongoDB (``unconfirmed_until``, a TTL index: the field is
    set at registration and removed once the account moves on), freeing its logins."""

    def __init__(
        self,
        runtime: Runtime,
        cipher: FieldCipher,
        index: BlindIndex,
        clock: Clock,
        *,
        unconfirmed_for: timedelta = timedelta(days=7),
    ) -> None:
        self.collection = runtime.collection("users")
        self._outbox = runtime.outbox
        self._cipher = cipher
        self._index = index
        self._clock = clock
        self._unconfirmed_for = unconfirmed_for

    async def ensure_indexes(self) -> None:
        for kind in LOGIN_KINDS:
            await self.collection.create_index(
                [(f"index.{kind}", ASCENDING)],
                name=f"login_{kind}",
                unique=True,
                partialFilterExpression={f"index.{kind}": {"$type": "string"}},
            )
        await self.collection.create_index(
            "unconfirmed_until", expireAfterSeconds=0, name="unconfirmed_expiry"
        )

    async def get(self, user_id: str) -> User | None:
        doc = await self.collection.find_one({"_id": user_id})
        return None if doc is None else self._user(doc)

    async def by_login(self, kind: LoginKind, normalised: str) -> User | None:
        doc = await self.collection.find_one({f"index.{kind}": self._blind(kind, normalised)})
        return None if doc is None else self._user(doc)

    async def insert(self, user: User, events: list[Envelope]) -> None:
        """Raises ``LoginTakenError`` when a phone, e-mail or СНИЛС is registered already."""
        now = self._clock()
        document: Doc = {
            "_id": user.id,
            "role": user.role,
            "status": user.status.value,
            "organization_id": user.organization_id,
            "pii": self._seal(user.id, _person_doc(user.person), "pii"),
            "personal_data": None,
            "index": self._logins(user.person),
            "password_hash": user.password_hash,
            "contacts": {c: _contact_doc(user.contacts[c]) for c in CHANNELS},
            "totp": None,
            "locked_until": None,
            "created_at": user.created_at,
            "updated_at": now,
            "version": user.version,
        }
        if user.status is Status.PENDING_CONTACTS:
            document["unconfirmed_until"] = user.created_at + self._unconfirmed_for
        try:
            await self.collection.insert_one(self._outbox.insert(document, events))
        except DuplicateKeyError as exc:
            raise LoginTakenError(user.id) from exc

    async def owners(self, person: Person) -> dict[LoginKind, str]:
        """Which of the person's logins other accounts have, and whose (after a
        ``LoginTakenError``)."""
        found: dict[LoginKind, str] = {}
        for kind, value in self._logins(person).items():
            owner = await self.collection.find_one({f"index.{kind}": value}, {"_id": 1})
            if owner is not None:
                found[kind] = owner["_id"]
        return found

    async def apply(self, before: User, after: User, events: list[Envelope]) -> bool:
        """Writes what changed from ``before`` to ``after`` with its events, if the account is
        still the version ``before`` was read at."""
        fields, removed = self._changes(before, after)
        fields["updated_at"] = self._clock()
        update: Doc = {"$set": fields, "$inc": {"version": 1}}
        if removed:
            update["$unset"] = dict.fromkeys(removed, "")
        written = await update_and_read(
            self.collection,
            {"_id": before.id, "version": before.version},
            self._outbox.update(before.id, update, events),
        )
        return written is not None

    async def count_code_try(self, user: User, channel: Channel, max_attempts: int) -> User | None:
        """Counts one try of the code last sent to ``channel``, atomically, before the code
        is compared: the account as this try left it, or None when that code is gone, used or
        out of tries. Tries sent at once each take their own slot (the version-checked write
        of a wrong try once lost every race but one, silently)."""
        sent = user.contacts[channel].code
        if sent is None:
            return None
        path = f"contacts.{channel}.code"
        token = secrets.token_hex(8)
        doc = await update_and_read(
            self.collection,
            {
                "_id": user.id,
                f"{path}.code_hash": sent.code_hash,
                f"{path}.used": {"$ne": True},
                f"{path}.attempts": {"$lt": max_attempts},
            },
            {"$inc": {f"{path}.attempts": 1}, "$push": {f"{path}.tries": token}},
        )
        if doc is None:
            return None
        code = doc["contacts"][channel].get("code")
        if code is None or code.get("code_hash") != sent.code_hash:
            return None  # a new code was sent, or this one confirmed, right after this try
        code["attempts"] -= later_tries(code["tries"], token)
        return self._user(doc)

    def _changes(self, before: User, after: User) -> tuple[Doc, list[str]]:
        fields: Doc = {}
        removed: list[str] = []
        if after.status != before.status:
            fields["status"] = after.status.value
            if before.status is Status.PENDING_CONTACTS:
                removed.append("unconfirmed_until")  # confirmed: kept for good
        for channel in CHANNELS:
            old, new = before.contacts[channel], after.contacts[channel]
            if new.verified != old.verified:
                fields[f"contacts.{channel}.verified"] = new.verified
            if new.code != old.code:
                fields[f"contacts.{channel}.code"] = code_doc(new.code)
        if after.personal_data != before.personal_data and after.personal_data is not None:
            data = _personal_data_doc(after.personal_data)
            fields["personal_data"] = self._seal(after.id, data, "personal_data")
        if after.password_hash != before.password_hash:
            fields["password_hash"] = after.password_hash
        if after.totp_pending != before.totp_pending:
            if after.totp_pending is None:
                removed.append("totp_pending")
            else:
                fields["totp_pending"] = self._seal_totp(after.id, after.totp_pending)
        if after.totp != before.totp and after.totp is not None:
            if before.totp is not None and before.totp.secret == after.totp.secret:
                fields["totp.last_step"] = after.totp.last_step
            else:
                secret = self._seal_totp(after.id, after.totp.secret)
                fields["totp"] = {"secret": secret, "last_step": after.totp.last_step}
        if after.locked_until != before.locked_until:
            fields["locked_until"] = after.locked_until
        if after.deactivated_at != before.deactivated_at:
            fields["deactivated_at"] = after.deactivated_at
        return fields, removed

    # --- document <-> aggregate ---------------------------------------------------------

    def _user(self, doc: Doc) -> User:
        user_id = doc["_id"]
        sealed_data = doc.get("personal_data")
        totp = doc.get("totp")
        pending = doc.get("totp_pending")
        return User(
            id=user_id,
            role=doc["role"],
            status=Status(doc["status"]),
            organization_id=doc.get("organization_id"),
            person=_person(self._open(user_id, doc["pii"], "pii")),
            personal_data=(
                _personal_data(self._open(user_id, sealed_data, "personal_data"))
                if sealed_data
                else None
            ),
            password_hash=doc["password_hash"],
            contacts={c: _contact(doc["contacts"][c]) for c in CHANNELS},
            created_at=doc["created_at"],
            version=doc["version"],
            totp=(
                Totp(self._open_totp(user_id, totp["secret"]), totp["last_step"]) if totp else None
            ),
            totp_pending=self._open_totp(user_id, pending) if pending else None,
            locked_until=doc.get("locked_until"),
            deactivated_at=doc.get("deactivated_at"),
        )

    def _logins(self, person: Person) -> dict[LoginKind, str]:
        values = {"phone": person.phone, "email": person.email, "snils": person.snils}
        return {kind: self._blind(kind, values[kind] or "") for kind in LOGIN_KINDS if values[kind]}

    def _blind(self, kind: LoginKind, normalised: str) -> str:
        return self._index.index(normalised, purpose=kind)

    def _seal(self, user_id: str, record: Doc, part: str) -> str:
        return self._cipher.encrypt(
            json.dumps(record, ensure_ascii=False), context=f"users.{part}:{user_id}"
        )

    def _open(self, user_id: str, token: str, part: str) -> Doc:
        record: Doc = json.loads(self._cipher.decrypt(token, context=f"users.{part}:{user_id}"))
        return record

    def _seal_totp(self, user_id: str, secret: str) -> str:
        return self._cipher.encrypt(secret, context=f"users.totp:{user_id}")

    def _open_totp(self, user_id: str, token: str) -> str:
        return self._cipher.decrypt(token, context=f"users.totp:{user_id}")


def _person_doc(person: Person) -> Doc:
    doc: Doc = {
        "last_name": person.last_name,
        "first_name": person.first_name,
        "middle_name": person.middle_name,
    }
    if person.birth_date is not None:  # citizens; staff have no birth date, sex or СНИЛС
        doc["birth_date"] = person.birth_date.isoformat()
        doc["sex"] = person.sex
    doc["phone"] = person.phone
    doc["email"] = person.email
    if person.snils is not None:
        doc["snils"] = person.snils
    return doc


def _person(doc: Doc) -> Person:
    born = doc.get("birth_date")
    return Person(
        last_name=doc["last_name"],
        first_name=doc["first_name"],
        middle_name=doc.get("middle_name"),
        phone=doc.get("phone"),
        email=doc["email"],
        birth_date=date.fromisoformat(born) if born else None,
        sex=doc.get("sex"),
        snils=doc.get("snils"),
    )


def _address_doc(address: Address) -> Doc:
    doc: Doc = {"region_code": address.region_code}
    if address.postal_code is not None:
        doc["postal_code"] = address.postal_code
    doc.update(locality=address.locality, street=address.street, house=address.house)
    if address.flat is not None:
        doc["flat"] = address.flat
    return doc


def _address(doc: Doc) -> Address:
    return Address(
        region_code=doc["region_code"],
        locality=doc["locality"],
        street=doc["street"],
        house=doc["house"],
        postal_code=doc.get("postal_code"),
        flat=doc.get("flat"),
    )


def _personal_data_doc(data: PersonalData) -> Doc:
    passport = data.passport
    return {
        "passport": {
            "series": passport.series,
            "number": passport.number,
            "issued_at": passport.issued_at.isoformat(),
            "issued_by": passport.issued_by,
            "division_code": passport.division_code,
        },
        "birth_place": data.birth_place,
        "registration_address": _address_doc(data.registration_address),
        "actual_address": _address_doc(data.actual_address),
        "oms_policy": data.oms_policy,
        "inn": data.inn,
    }


def _personal_data(doc: Doc) -> PersonalData:
    passport = doc["passport"]
    return PersonalData(
        passport=Passport(
            series=passport["series"],
            number=passport["number"],
            issued_at=date.fromisoformat(passport["issued_at"]),
            issued_by=passport["issued_by"],
            division_code=passport["division_code"],
        ),
        birth_place=doc["birth_place"],
        registration_address=_address(doc["registration_address"]),
        actual_address=_address(doc.get("actual_address") or doc["registration_address"]),
        oms_policy=doc.get("oms_policy"),
        inn=doc.get("inn"),
    )


def code_doc(code: OneTimeCode | None) -> Doc | None:
    return None if code is None else asdict(code)


def code_from(doc: Doc | None) -> OneTimeCode | None:
    if doc is None:
        return None
    return OneTimeCode(**{name: value for name, value in doc.items() if name != "tries"})


def later_tries(tries: list[str], token: str) -> int:
    """How many tries were counted after the one that appended ``token``: a counter read
    back after a concurrent ``$inc`` may carry those, and this try's own count is the value
    read minus them. ``tries`` holds one token per try, appended in the same write."""
    return len(tries) - 1 - tries.index(token)


def _contact_doc(contact: Contact) -> Doc:
    return {"verified": contact.verified, "code": code_doc(contact.code)}


def _contact(doc: Doc) -> Contact:
    return Contact(verified=bool(doc["verified"]), code=code_from(doc.get("code")))
