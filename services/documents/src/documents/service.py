"""The use cases of the documents service: upload, read, list, review. Each loads the
document, decides with the domain (``domain/``), writes through the store and calls the
ports (object storage, scanner). Domain and port errors become problem documents here, and
only here (:func:`_problem`).

Every read and decision is recorded in ``access_log`` (who, what, when, why).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from documents.domain import access
from documents.domain import document as domain
from documents.domain.document import Decision, Document, Scan, Status
from documents.domain.inspection import (
    HEAD_BYTES,
    Inspection,
    RefusedError,
    detect,
    inspect,
    safe_filename,
)
from documents.ports import (
    Access,
    Listing,
    ObjectMissingError,
    ObjectStorage,
    Scanner,
    ScannerUnavailableError,
    Sealed,
    StorageUnavailableError,
    Store,
)
from documents.settings import DocumentsSettings
from emk_common.auth import PersonalData, Principal
from emk_common.clock import Clock
from emk_common.field_errors import FieldError
from emk_common.problems import Problem

log = logging.getLogger(__name__)

# Who may read a document: the platform's one policy for personal data (emk_common.auth).
READING = PersonalData(
    what="к документу гражданина",
    not_found="Документ не найден.",
    admin_refused="Администратор не просматривает содержимое документов.",
)


@dataclass(frozen=True)
class Download:
    """A document being read: its metadata, and its bytes as they stream from storage."""

    document: Document
    chunks: AsyncGenerator[bytes, None]


@dataclass(frozen=True)
class Page:
    items: list[Document]
    total: int


class MalwareFoundError(Exception):
    """The scanner found something in the file."""


class Documents:
    def __init__(
        self,
        store: Store,
        settings: DocumentsSettings,
        *,
        storage: ObjectStorage,
        scanner: Scanner,
        clock: Clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.storage = storage
        self.scanner = scanner
        self.clock = clock
        self.review_time = timedelta(hours=settings.review_hours)
        self._inspections = asyncio.Semaphore(settings.concurrent_inspections)
        # Objects of failed uploads being removed (held here so the tasks are not collected).
        self._discarding: set[asyncio.Task[None]] = set()

    def overdue(self, document: Document) -> bool:
        return document.overdue(self.clock(), self.review_time)

    # --- upload ------------------------------------------------------------------------------

    async def upload(
        self, owner: Principal, kind: str, filename: str | None, data: bytes
    ) -> Document:
        checked = domain.checked_kind(kind)
        try:
            detect(
                data[:HEAD_BYTES]
            )  # refuse what we would never take before spending a scan on it
        except RefusedError as refused:
            raise _problem(refused) from None
        document_id = uuid.uuid4().hex
        # Hashing and encrypting touch no parser: they run while clamd scans. Parsing waits
        # for a clean verdict, and nothing is stored before every check has passed.
        sealing = asyncio.create_task(
            asyncio.to_thread(_digest_and_seal, self.storage, document_id, data)
        )
        try:
            if await self.scanner.scan(data) is not None:
                raise MalwareFoundError
            async with self._inspections:
                inspection: Inspection = await asyncio.to_thread(inspect, data)
        except (ScannerUnavailableError, RefusedError, MalwareFoundError) as error:
            sealing.cancel()
            raise _problem(error) from error
        sha256, sealed = await sealing
        try:
            await self.storage.put(document_id, sealed.blob)
        except BaseException as error:
            # S3 may have stored the object before its answer was lost: removed once it answers.
            self._discard(document_id, unless_recorded=False)
            if isinstance(error, StorageUnavailableError):
                raise _problem(error) from None
            raise
        scan = Scan(
            size=len(data),
            content_type=str(inspection.content_type),
            sha256=sha256,
            filename=safe_filename(filename, inspection.content_type),
            pages=inspection.pages,
            width=inspection.width,
            height=inspection.height,
        )
        document, event = domain.upload(
            document_id, owner.user_id, checked, scan, sealed.data_key, self.clock()
        )
        # The upload's access-log entry is written alongside the document, not after it.
        try:
            await asyncio.gather(
                self.store.insert(document, [event]), self._log(owner, document, "upload", None)
            )
        except BaseException:
            # MongoDB away (a 503 for the client): the object must not outlive the upload.
            self._discard(document_id, unless_recorded=True)
            raise
        return document

    def _discard(self, document_id: str, *, unless_recorded: bool) -> None:
        """Remove an upload's object in the background, retrying until storage (and, with
        ``unless_recorded``, MongoDB) answers: the client already has its 503."""
        task = asyncio.create_task(
            _discard(self.storage, self.store, document_id, unless_recorded=unless_recorded),
            name=f"discard-{document_id[:8]}",
        )
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    # --- reading -----------------------------------------------------------------------------

    async def metadata(self, who: Principal, document_id: str, reason: str | None) -> Document:
        document = await self._visible(who, document_id, reason, content=False)
        await self._log(who, document, "read_metadata", reason)
        return document

    async def read_content(self, who: Principal, document_id: str, reason: str | None) -> Download:
        """The plaintext as it streams from storage. Storage starts sending while the read is
        being logged; nothing is handed out before the log entry is written. The first
        segment is read before the answer starts, so a missing object or an unreachable
        storage is a problem document — never a 200 cut off after its headers."""
        document = await self._visible(who, document_id, reason, content=True)
        plaintext = self.storage.open(document.id, document.data_key, document.size)
        chunks = aiter(plaintext)
        try:
            await self._log(who, document, "read_content", reason)
            first = await anext(chunks)
        except (ObjectMissingError, StorageUnavailableError) as error:
            plaintext.close()
            if isinstance(error, ObjectMissingError):
                log.error("the bytes of document %s are missing from S3", document.id)
            raise _problem(error) from None
        except BaseException:
            plaintext.close()
            raise
        return Download(document, _then(first, chunks))

    async def list(
        self,
        who: Principal,
        *,
        reason: str | None,
        status: Status | None,
        overdue: bool | None,
        limit: int,
        offset: int,
    ) -> Page:
        """A citizen's own documents; for staff, everyone's: owners and file names, so the
        same policy as for reading one (an operator states a reason) and, for staff, one
        access-log entry per document shown."""
        try:
            owner_id = access.listed_owner(user_id=who.user_id, role=who.role)
        except access.AccessDeniedError as error:
            raise _problem(error) from None
        READING.check(who, reason=reason, content=False)
        listing = Listing(owner_id=owner_id, status=status, oldest_first=who.role != "citizen")
        if overdue is not None:
            threshold = self.clock() - self.review_time
            listing = Listing(
                owner_id=owner_id,
                status="pending_review",
                oldest_first=listing.oldest_first,
                created_before=threshold if overdue else None,
                created_since=None if overdue else threshold,
            )
        items, total = await self.store.page(listing, limit=limit, offset=offset)
        if owner_id is None:
            await self.store.log_many(items, Access(who.user_id, who.role, "list", reason))
        return Page(items, total)

    # --- review ------------------------------------------------------------------------------

    async def decide(
        self, who: Principal, document_id: str, decision: Decision, reason: str | None
    ) -> Document:
        try:
            access.check_reviewer(who.role)
        except access.AccessDeniedError as error:
            raise _problem(error) from None
        current = await self.store.get(document_id)
        if current is None:
            raise _problem(access.NotVisibleError())
        try:
            decided, event = domain.decide(current, who.user_id, decision, reason, self.clock())
        except domain.AlreadyDecidedError as error:
            raise _problem(error) from None
        stored = await self.store.apply(current, decided, [event])
        if stored is None:  # another decision came first
            raise _problem(domain.AlreadyDecidedError(current.status))
        await self._log(who, stored, decision, reason)
        return stored

    async def rejection_reason(self, document_id: str) -> str:
        """The reason a rejected document was rejected for, for the services allowed (its
        ``DocumentRejected`` event says only that there is one); 404 for an unknown document,
        one not rejected, or a rejection without a reason."""
        document = await self.store.get(document_id)
        if document is None:
            raise _problem(access.NotVisibleError())
        if document.status != "rejected" or not (document.reason and document.reason.strip()):
            raise Problem.not_found("У документа нет причины отклонения.")
        return document.reason

    # --- helpers -----------------------------------------------------------------------------

    async def _visible(
        self, who: Principal, document_id: str, reason: str | None, *, content: bool
    ) -> Document:
        # An unknown document is a 404 for everyone, before anything is asked of the caller.
        document = await self.store.get(document_id)
        if document is None:
            raise _problem(access.NotVisibleError())
        allowed = READING.check(who, reason=reason, content=content)
        READING.require_owner(allowed, who, document.owner_id)
        return document

    async def _log(
        self, who: Principal, document: Document, action: str, reason: str | None
    ) -> None:
        await self.store.log(document, Access(who.user_id, who.role, action, reason))


# How long an upload's object is tried to be removed (then it is logged as orphaned).
DISCARD_FOR = 15 * 60.0
_DISCARD_FIRST_DELAY = 0.5
_DISCARD_MAX_DELAY = 30.0
# A record must be found missing twice, this far apart, before its object goes: a write sent
# before an outage may still be waiting in the database's socket when it first answers again.
_DISCARD_SETTLE = 3.0


async def _discard(
    storage: ObjectStorage, store: Store, document_id: str, *, unless_recorded: bool
) -> None:
    """Remove the object of a failed upload, retrying with backoff while S3 or MongoDB is
    away. With ``unless_recorded``, the record's write timed out: it may have landed after
    all (a frozen MongoDB works through what it was sent once it runs again), and then the
    object is that document's bytes and stays. Only ids and error types are logged."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + DISCARD_FOR
    delay = _DISCARD_FIRST_DELAY
    missing_once = False
    while True:
        try:
            if unless_recorded:
                if await store.get(document_id) is not None:
                    log.info("document %s was recorded after all: its object stays", document_id)
                    return
                if not missing_once:
                    missing_once = True
                    await asyncio.sleep(_DISCARD_SETTLE)
                    continue
            await storage.remove(document_id)
            log.info("removed the object of failed upload %s", document_id)
            return
        except Exception as exc:
            if loop.time() + delay > give_up_at:
                log.error(
                    "could not remove the object of failed upload %s (%s): orphaned",
                    document_id,
                    type(exc).__name__,
                )
                return
        await asyncio.sleep(delay)
        delay = min(delay * 2, _DISCARD_MAX_DELAY)


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    yield first
    async for chunk in rest:
        yield chunk


def _digest_and_seal(storage: ObjectStorage, document_id: str, data: bytes) -> tuple[str, Sealed]:
    return hashlib.sha256(data).hexdigest(), storage.seal(document_id, data)


def _problem(error: Exception) -> Problem:
    """The one place where what went wrong becomes what the client is told."""
    if isinstance(error, access.NotVisibleError):
        return Problem.not_found(READING.not_found)
    if isinstance(error, access.ListForbiddenError):
        return Problem.forbidden("Список документов доступен владельцу и сотрудникам.")
    if isinstance(error, access.NotReviewerError):
        return Problem.forbidden("Проверять документы может только оператор.")
    if isinstance(error, domain.AlreadyDecidedError):
        return Problem.conflict("Решение по документу уже принято.", current_state=error.status)
    if isinstance(error, RefusedError):
        status = {"too_large": 413, "unsupported_type": 415}.get(error.code, 422)
        if status == 422:
            return Problem.validation(
                [FieldError(field="file", code=error.code, message=error.message)]
            )
        return Problem(status, code=error.code, detail=error.message)
    if isinstance(error, MalwareFoundError):
        return Problem.validation(
            [
                FieldError(
                    field="file",
                    code="malware",
                    message="В файле обнаружена вредоносная программа. Файл не сохранён.",
                )
            ]
        )
    if isinstance(error, ScannerUnavailableError):
        return Problem.unavailable(
            "Проверка файлов на вирусы временно недоступна, файл не сохранён. Попробуйте позже.",
            retry_after_seconds=30,
        )
    if isinstance(error, ObjectMissingError):
        return Problem(
            404,
            code="content-missing",
            detail="Файл документа не найден в хранилище. Загрузите документ заново.",
        )
    if isinstance(error, StorageUnavailableError):
        return Problem.unavailable(
            "Хранилище документов временно недоступно. Повторите попытку позже.",
            retry_after_seconds=5,
        )
    raise TypeError(f"no problem document for {type(error).__name__}") from error
