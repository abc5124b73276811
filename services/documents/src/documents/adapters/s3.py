"""The object storage port on S3: document bytes encrypted before they leave the service.

Envelope encryption: each object gets its own random 256-bit data key; the data key is
stored wrapped by the master keyring (``DOCUMENTS_MASTER_KEYS``, key ids) in the
document's metadata. Rotating the master key re-wraps data keys only (``FieldCipher.rotate``
on ``wrapped_key``); the objects stay as they are. The bucket holds ciphertext only, and
nothing is ever served by a presigned URL.

Objects are sealed in 1 MiB segments (the STREAM construction): segment *i* is AES-GCM
under the data key with nonce = object prefix ‖ *i* ‖ last-flag and the document id as
associated data, so segments cannot be reordered, dropped, moved to another document or
truncated. A download decrypts segment by segment while S3 is still sending, instead of
holding the whole object first: a thread per download (:class:`Plaintext`) reads and
authenticates the segments a little ahead of the client, so neither side waits for the
other and no thread-pool hop is paid per segment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import struct
import threading
from collections.abc import AsyncIterator

import urllib3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio
from minio.error import MinioException, S3Error

from documents.ports import ObjectMissingError, Sealed, StorageUnavailableError
from emk_common.crypto import DecryptionError, FieldCipher

SEGMENT = 1024 * 1024
TAG = 16
PREFIX = 7  # random per object; + 4-byte segment counter + 1-byte last flag = 12-byte nonce
AHEAD = 2  # segments read ahead of the client: at most AHEAD + 1 segments held per download
IDLE = 600.0  # seconds a reading thread waits for a reader before it gives up


class EncryptedS3:
    """:class:`documents.ports.ObjectStorage` on one S3 bucket."""

    def __init__(self, s3: Minio, bucket: str, master: FieldCipher) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._master = master

    def _wrap_context(self, document_id: str) -> str:
        return f"documents.data_key:{document_id}"

    def seal(self, document_id: str, data: bytes) -> Sealed:
        """Encrypt under a fresh data key (blocking, CPU only): the blob and the wrapped key."""
        key = AESGCM.generate_key(bit_length=256)
        cipher, prefix, aad = AESGCM(key), os.urandom(PREFIX), document_id.encode()
        count = max(1, -(-len(data) // SEGMENT))
        parts = [prefix]
        view = memoryview(data)  # slices of a view are not copies
        for index in range(count):
            chunk = view[index * SEGMENT : (index + 1) * SEGMENT]
            parts.append(cipher.encrypt(_nonce(prefix, index, index == count - 1), chunk, aad))
        wrapped = self._master.encrypt(
            base64.b64encode(key).decode(), context=self._wrap_context(document_id)
        )
        return Sealed(b"".join(parts), wrapped)

    async def put(self, document_id: str, blob: bytes) -> None:
        """Raises :class:`StorageUnavailableError` when S3 fails or does not answer in time
        (the client's bounds: :func:`emk_common.s3.s3_client`); the object may then exist or
        not — the caller removes it (:meth:`remove`)."""
        try:
            await asyncio.to_thread(
                self._s3.put_object,
                self._bucket,
                document_id,
                io.BytesIO(blob),
                len(blob),
                content_type="application/octet-stream",
            )
        except Exception as error:
            translated = _write_error(error)
            if translated is None:
                raise
            raise translated from error

    async def remove(self, document_id: str) -> None:
        """Remove the object, if there is one (an upload that could not be recorded)."""
        try:
            await asyncio.to_thread(self._s3.remove_object, self._bucket, document_id)
        except Exception as error:
            if isinstance(_as_port_error(error), ObjectMissingError):
                return
            translated = _write_error(error)
            if translated is None:
                raise
            raise translated from error

    def open(self, document_id: str, data_key: str, size: int) -> Plaintext:
        """Start reading the object now; iterate the result for the plaintext.

        The wrapped key is opened here, so a bad key fails before anything is read."""
        key = base64.b64decode(
            self._master.decrypt(data_key, context=self._wrap_context(document_id))
        )
        return Plaintext(self._s3, self._bucket, document_id, AESGCM(key), size)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)


def _as_port_error(error: BaseException) -> Exception | None:
    """S3's and the network's errors in the port's words; None for anything else (a segment
    that fails authentication), which is raised as it is."""
    if isinstance(error, S3Error):
        if error.code in ("NoSuchKey", "NoSuchBucket"):
            return ObjectMissingError(error.code)
        return StorageUnavailableError(error.code)
    if isinstance(error, MinioException | OSError | urllib3.exceptions.HTTPError):
        return StorageUnavailableError(type(error).__name__)
    return None


def _write_error(error: Exception) -> Exception | None:
    """A write's failure in the port's words: storage unavailable (a missing bucket too);
    None for anything that is not S3's or the network's, which is raised as it is."""
    translated = _as_port_error(error)
    if translated is None:
        return None
    if isinstance(translated, ObjectMissingError):
        return StorageUnavailableError(str(error.code) if isinstance(error, S3Error) else "")
    return translated


class Plaintext:
    """One object's plaintext, read by a thread of its own as S3 delivers it.

    The thread reads each sealed segment with one blocking read and authenticates it; a
    segment reaches the reader only once its tag has been checked, so a tampered, moved or
    truncated object ends the stream with :class:`DecryptionError` before its bytes are
    handed out. The thread stays at most ``AHEAD`` segments ahead of the reader (memory
    stays bounded whatever the client's speed), gives up when nobody reads for ``IDLE``
    seconds, and stops when the reader stops (``close``, or the iteration ending).
    Iterate it once.
    """

    def __init__(self, s3: Minio, bucket: str, document_id: str, cipher: AESGCM, size: int):
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._room = threading.Semaphore(AHEAD)
        self._stopped = threading.Event()
        self._count = max(1, -(-size // SEGMENT))
        threading.Thread(
            target=self._pump,
            args=(s3, bucket, document_id, cipher, size),
            name=f"documents-read-{document_id[:8]}",
            daemon=True,
        ).start()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._segments()

    async def _segments(self) -> AsyncIterator[bytes]:
        try:
            for _ in range(self._count):
                item = await self._ready.get()
                if isinstance(item, BaseException):
                    translated = _as_port_error(item)
                    if translated is None:
                        raise item
                    raise translated from item
                self._room.release()
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (the S3 response is closed by the thread)."""
        self._stopped.set()
        self._room.release()

    def _pump(self, s3: Minio, bucket: str, document_id: str, cipher: AESGCM, size: int) -> None:
        aad, count = document_id.encode(), self._count
        try:
            response = s3.get_object(bucket, document_id)
            try:
                prefix = response.read(PREFIX, decode_content=False)
                for index in range(count):
                    if not self._room.acquire(timeout=IDLE):
                        raise TimeoutError(f"nobody read {document_id} for {IDLE:.0f} s")
                    if self._stopped.is_set():
                        return
                    plain = SEGMENT if index < count - 1 else size - SEGMENT * (count - 1)
                    sealed = response.read(plain + TAG, decode_content=False)
                    nonce = _nonce(prefix, index, index == count - 1)
                    try:
                        self._deliver(cipher.decrypt(nonce, sealed, aad))
                    except InvalidTag as exc:
                        raise DecryptionError(f"segment {index} of {document_id} fails") from exc
            finally:
                response.close()
                response.release_conn()
        except BaseException as exc:  # handed to the reader, raised where it iterates
            self._deliver(exc)

    def _deliver(self, item: bytes | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is reading
            self._loop.call_soon_threadsafe(self._ready.put_nowait, item)
