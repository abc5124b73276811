"""Document bytes in S3, encrypted before they leave the service.

Envelope encryption: each object gets its own random 256-bit data key (AES-GCM, the
document id as associated data); the data key is stored wrapped by the master keyring
(``DOCUMENTS_MASTER_KEYS``, key ids) in the document's metadata. Rotating the master key
re-wraps data keys only (``FieldCipher.rotate`` on ``wrapped_key``); the objects stay as
they are. The bucket holds ciphertext only, and nothing is ever served by a presigned URL.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio

from emk_common.crypto import FieldCipher

NONCE = 12


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
        nonce = os.urandom(NONCE)
        blob = nonce + AESGCM(key).encrypt(nonce, data, document_id.encode())
        wrapped = self._master.encrypt(
            base64.b64encode(key).decode(), context=self._wrap_context(document_id)
        )
        return blob, wrapped

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

    async def get(self, document_id: str, wrapped_key: str) -> bytes:
        key = base64.b64decode(
            self._master.decrypt(wrapped_key, context=self._wrap_context(document_id))
        )
        blob = await asyncio.to_thread(self._read, document_id)
        return await asyncio.to_thread(
            AESGCM(key).decrypt, blob[:NONCE], blob[NONCE:], document_id.encode()
        )

    def _read(self, document_id: str) -> bytes:
        response = self._s3.get_object(self._bucket, document_id)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
