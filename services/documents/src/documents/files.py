"""Documents: upload, read, review. Who may see what:

- the owner (the citizen who uploaded it): metadata and content;
- an operator: metadata and content, with a reason (``X-Access-Reason``);
- an admin: metadata, never content;
- anyone else: the document does not exist for them (404).

Every read and decision is recorded in ``access_log`` (who, what, when, why).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import urllib3
from minio.error import S3Error
from pymongo import DESCENDING

from documents.adapters.scanner import Scanner, ScannerUnavailableError
from documents.adapters.storage import EncryptedStore
from documents.domain.inspection import Inspection, RefusedError, detect, inspect, safe_filename
from documents.settings import DocumentsSettings
from emk_common import catalog
from emk_common.audit import AccessLog
from emk_common.auth import Principal
from emk_common.events import Envelope, EventData
from emk_common.mongo import update_and_read
from emk_common.problems import FieldError, Problem
from emk_common.service import Runtime

Kind = Literal[
    "passport", "oms_policy", "medical_certificate", "vaccination_certificate", "benefit", "other"
]
KINDS: tuple[str, ...] = (
    "passport",
    "oms_policy",
    "medical_certificate",
    "vaccination_certificate",
    "benefit",
    "other",
)
STATUS_LABELS = {"pending_review": "На проверке", "verified": "Подтверждён", "rejected": "Отклонён"}


log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Documents:
    def __init__(
        self, runtime: Runtime, settings: DocumentsSettings, store: EncryptedStore, scanner: Scanner
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.store = store
        self.scanner = scanner
        self.documents = runtime.collection("documents")
        self.access_log = AccessLog(runtime.collection("access_log"), "document")
        self._inspections = asyncio.Semaphore(settings.concurrent_inspections)

    async def ensure_indexes(self) -> None:
        await self.documents.create_index(
            [("owner_id", 1), ("created_at", DESCENDING)], name="by_owner"
        )
        await self.documents.create_index([("status", 1), ("created_at", 1)], name="queue")
        await self.access_log.ensure_indexes()

    # --- upload ------------------------------------------------------------------------------

    async def upload(
        self, owner: Principal, kind: str, filename: str | None, data: bytes
    ) -> dict[str, Any]:
        if not kind:
            raise Problem.validation(
                [FieldError(field="kind", code="missing", message="Укажите вид документа.")]
            )
        if kind not in KINDS:
            raise Problem.validation(
                [
                    FieldError(
                        field="kind",
                        code="choice",
                        message=f"Вид документа: допустимые значения — {', '.join(KINDS)}.",
                    )
                ]
            )
        try:
            detect(data[:16])  # refuse what we would never take before spending a scan on it
        except RefusedError as refused:
            raise _refusal(refused) from None
        document_id = uuid.uuid4().hex
        # Hashing and encrypting touch no parser: they run while clamd scans. Parsing waits
        # for a clean verdict, and nothing is stored before every check has passed.
        sealing = asyncio.create_task(
            asyncio.to_thread(_digest_and_seal, self.store, document_id, data)
        )
        try:
            threat = await self.scanner.scan(data)
            if threat is not None:
                raise Problem.validation([_MALWARE])
            async with self._inspections:
                inspection: Inspection = await asyncio.to_thread(inspect, data)
        except ScannerUnavailableError as exc:
            sealing.cancel()
            raise Problem.unavailable(
                "Проверка файлов на вирусы временно недоступна, файл не сохранён. "
                "Попробуйте позже.",
                retry_after_seconds=30,
            ) from exc
        except RefusedError as refused:
            sealing.cancel()
            raise _refusal(refused) from None
        except Problem:
            sealing.cancel()
            raise
        sha256, blob, wrapped_key = await sealing
        await self.store.put_sealed(document_id, blob)
        now = now_utc()
        document = {
            "_id": document_id,
            "owner_id": owner.user_id,
            "kind": kind,
            "status": "pending_review",
            "size": len(data),
            "content_type": str(inspection.content_type),
            "sha256": sha256,
            "filename": safe_filename(filename, inspection.content_type),
            "pages": inspection.pages,
            "width": inspection.width,
            "height": inspection.height,
            "wrapped_key": wrapped_key,
            "created_at": now,
            "history": [
                {"status": "pending_review", "at": now, "by": owner.user_id, "comment": None}
            ],
        }
        event = catalog.DocumentUploaded(
            document_id=document_id, owner_id=owner.user_id, kind=kind, size=len(data),
            content_type=document["content_type"], sha256=document["sha256"],
        )  # fmt: skip
        envelope = Envelope.wrap(event, source="documents", subject=document_id)
        # The upload's access-log entry is written alongside the document, not after it.
        await asyncio.gather(
            self.documents.insert_one(self.runtime.outbox.insert(document, [envelope])),
            self._record(owner, document, "upload", None),
        )
        return self.view(document)

    # --- reading -----------------------------------------------------------------------------

    async def visible(
        self, who: Principal, document_id: str, *, reason: str | None, content: bool
    ) -> dict[str, Any]:
        document = await self.documents.find_one({"_id": document_id})
        if document is None:
            raise _not_found()
        if who.role == "citizen":
            if document["owner_id"] != who.user_id:
                raise _not_found()
        elif who.role == "operator":
            if not reason:
                raise Problem.validation(
                    [
                        FieldError(
                            field="X-Access-Reason",
                            code="missing",
                            message=(
                                "Укажите цель доступа к документу гражданина "
                                "в заголовке X-Access-Reason."
                            ),
                        )
                    ]
                )
        elif who.role == "admin":
            if content:
                raise Problem.forbidden("Администратор не просматривает содержимое документов.")
        else:
            raise _not_found()
        if not content:  # content() logs its read alongside the S3 read
            await self._record(who, document, "read_metadata", reason)
        return document

    async def content(
        self, who: Principal, document: dict[str, Any], reason: str | None
    ) -> AsyncIterator[bytes]:
        """The plaintext as it streams from S3. S3 starts sending while the read is being
        logged; nothing is handed out before the log entry is written. The first segment is
        read before the answer starts, so a missing object or an unreachable S3 is a problem
        document — never a 200 cut off after its headers."""
        plaintext = self.store.open(document["_id"], document["wrapped_key"], document["size"])
        chunks = aiter(plaintext)
        try:
            await self._record(who, document, "read_content", reason)
            first = await anext(chunks)
        except S3Error as exc:
            plaintext.close()
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                log.error("the bytes of document %s are missing from S3", document["_id"])
                raise Problem(
                    404, code="content-missing",
                    detail="Файл документа не найден в хранилище. Загрузите документ заново.",
                ) from None  # fmt: skip
            raise _storage_unavailable() from None
        except (OSError, urllib3.exceptions.HTTPError):
            plaintext.close()
            raise _storage_unavailable() from None
        except BaseException:
            plaintext.close()
            raise

        async def the_rest() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        return the_rest()

    async def list(
        self, who: Principal, *, status: str | None, overdue: bool | None, limit: int, offset: int
    ) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if who.role == "citizen":
            query["owner_id"] = who.user_id
        elif who.role not in ("operator", "admin"):
            raise Problem.forbidden("Список документов доступен владельцу и сотрудникам.")
        if status:
            query["status"] = status
        if overdue is not None:
            threshold = now_utc() - timedelta(hours=self.settings.review_hours)
            query["status"] = "pending_review"
            query["created_at"] = {"$lt": threshold} if overdue else {"$gte": threshold}
        cursor = self.documents.find(query).sort("created_at", 1 if who.role != "citizen" else -1)
        items = await cursor.skip(offset).limit(limit).to_list()
        return {
            "items": [self.view(d) for d in items],
            "total": await self.documents.count_documents(query),
        }

    # --- review ------------------------------------------------------------------------------

    async def decide(
        self,
        who: Principal,
        document_id: str,
        decision: Literal["verified", "rejected"],
        reason: str | None,
    ) -> dict[str, Any]:
        if who.role != "operator":
            raise Problem.forbidden("Проверять документы может только оператор.")
        current = await self.documents.find_one({"_id": document_id}, {"owner_id": 1, "status": 1})
        if current is None:
            raise _not_found()
        now, owner_id = now_utc(), current["owner_id"]
        event: EventData = (
            catalog.DocumentVerified(
                document_id=document_id, owner_id=owner_id, verified_by=who.user_id
            )
            if decision == "verified"
            else catalog.DocumentRejected(
                document_id=document_id,
                owner_id=owner_id,
                rejected_by=who.user_id,
                reason=reason or "",
            )
        )
        envelope = Envelope.wrap(event, source="documents", subject=document_id)
        update = self.runtime.outbox.update(
            document_id,
            {
                "$set": {
                    "status": decision,
                    "decided_at": now,
                    "decided_by": who.user_id,
                    "reason": reason,
                },
                "$push": {
                    "history": {"status": decision, "at": now, "by": who.user_id, "comment": reason}
                },
            },
            [envelope],
        )
        document = await update_and_read(
            self.documents, {"_id": document_id, "status": "pending_review"}, update
        )
        if document is None:
            raise Problem.conflict(
                "Решение по документу уже принято.", current_state=current["status"]
            )
        await self._record(who, document, decision, reason)
        return self.view(document)

    # --- helpers -----------------------------------------------------------------------------

    def view(self, document: dict[str, Any]) -> dict[str, Any]:
        overdue = document["status"] == "pending_review" and document[
            "created_at"
        ] < now_utc() - timedelta(hours=self.settings.review_hours)
        return {
            "id": document["_id"],
            "owner_id": document["owner_id"],
            "kind": document["kind"],
            "status": document["status"],
            "status_label": STATUS_LABELS[document["status"]],
            "size": document["size"],
            "content_type": document["content_type"],
            "sha256": document["sha256"],
            "filename": document["filename"],
            "created_at": document["created_at"],
            "overdue": overdue,
            "reason": document.get("reason"),
            "history": document["history"],
        }

    async def _record(
        self, who: Principal, document: dict[str, Any], action: str, reason: str | None
    ) -> None:
        await self.access_log.record(
            document["_id"], document["owner_id"],
            actor_id=who.user_id, actor_role=who.role, action=action, reason=reason,
        )  # fmt: skip


_MALWARE = FieldError(
    field="file",
    code="malware",
    message="В файле обнаружена вредоносная программа. Файл не сохранён.",
)


def _digest_and_seal(
    store: EncryptedStore, document_id: str, data: bytes
) -> tuple[str, bytes, str]:
    blob, wrapped = store.seal(document_id, data)
    return hashlib.sha256(data).hexdigest(), blob, wrapped


def _storage_unavailable() -> Problem:
    return Problem.unavailable(
        "Хранилище документов временно недоступно. Повторите попытку позже.",
        retry_after_seconds=5,
    )


def _not_found() -> Problem:
    return Problem.not_found("Документ не найден.")


def _refusal(refused: RefusedError) -> Problem:
    status = {"too_large": 413, "unsupported_type": 415}.get(refused.code, 422)
    if status == 422:
        return Problem.validation(
            [FieldError(field="file", code=refused.code, message=refused.message)]
        )
    return Problem(status, code=refused.code, detail=refused.message)
