"""Document bytes in S3, encrypted before they leave the service.

Envelope encryption: each object gets its own random 256-bit data key; the data key is
stored wrapped by the master keyring (``DOCUMENTS_MASTER_KEYS``, key ids) in the
document's metadata. Rotating the master key re-wraps data keys only (``FieldCipher.rotate``
on ``wrapped_key``); the objects stay as they are. The bucket holds ciphertext only, and
nothing is ever served by a presigned URL.

Objects are sealed in 1 MiB segments (the STREAM construction): segment *i* is AES-GCM
under the data key with nonce = object prefix ‖ *i* ‖ last-flag and the document id as
associated data, so segments cannot be reordered, dropped, moved to another document or
truncated. A download decrypts segment by segment while S3 is still sending, instead of
holding the whole object first.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import struct
from collections.abc import AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio

from emk_common.crypto import DecryptionError, FieldCipher

SEGMENT = 1024 * 1024
TAG = 16
PREFIX = 7  # random per object; + 4-byte segment counter + 1-byte last flag = 12-byte nonce


class EncryptedStore:
    def __init__(self, s3: Minio, bucket: str, master: FieldCipher) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._master = master

    def _wrap_context(self, document_id: str) -> str:
        return f"documents.data_key:{document_id}"

    def seal(self, document_id: str, data: bytes) -> tuple[bytes, str]:
        """Encrypt under a fresh data key (blocking, CPU only): the blob and the wrapped key."""
        key = AESGCM.generate_key(bit_length=256)
        cipher, prefix, aad = AESGCM(key), os.urandom(PREFIX), document_id.encode()
        count = max(1, -(-len(data) // SEGMENT))
        parts = [prefix]
        for index in range(count):
            chunk = data[index * SEGMENT : (index + 1) * SEGMENT]
            parts.append(cipher.encrypt(_nonce(prefix, index, index == count - 1), chunk, aad))
        wrapped = self._master.encrypt(
            base64.b64encode(key).decode(), context=self._wrap_context(document_id)
        )
        return b"".join(parts), wrapped

    async def put(self, document_id: str, data: bytes) -> str:
        """Store ``data`` encrypted; returns the wrapped data key to keep with the metadata."""
        blob, wrapped = await asyncio.to_thread(self.seal, document_id, data)
        await self.put_sealed(document_id, blob)
        return wrapped

    async def put_sealed(self, document_id: str, blob: bytes) -> None:
        await asyncio.to_thread(
            self._s3.put_object,
            self._bucket,
            document_id,
            io.BytesIO(blob),
            len(blob),
            content_type="application/octet-stream",
        )

    async def stream(self, document_id: str, wrapped_key: str, size: int) -> AsyncIterator[bytes]:
        """The plaintext, segment by segment, as S3 delivers it. A segment that fails to
        authenticate ends the stream with :class:`DecryptionError` (the response is cut)."""
        key = base64.b64decode(
            self._master.decrypt(wrapped_key, context=self._wrap_context(document_id))
        )
        cipher, aad = AESGCM(key), document_id.encode()
        count = max(1, -(-size // SEGMENT))
        response = await asyncio.to_thread(self._s3.get_object, self._bucket, document_id)
        try:
            prefix = await asyncio.to_thread(response.read, PREFIX)
            for index in range(count):
                plain = SEGMENT if index < count - 1 else size - SEGMENT * (count - 1)
                sealed = await asyncio.to_thread(response.read, plain + TAG)
                try:
                    yield cipher.decrypt(_nonce(prefix, index, index == count - 1), sealed, aad)
                except InvalidTag as exc:
                    raise DecryptionError(f"segment {index} of {document_id} fails") from exc
        finally:
            response.close()
            response.release_conn()

    async def get(self, document_id: str, wrapped_key: str, size: int) -> bytes:
        return b"".join([part async for part in self.stream(document_id, wrapped_key, size)])

    def _read(self, document_id: str) -> bytes:
        response = self._s3.get_object(self._bucket, document_id)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", index, last)
