"""The scanner port on ClamAV's clamd (INSTREAM over TCP)."""

from __future__ import annotations

import asyncio
import struct

from documents.ports import ScannerUnavailableError

CHUNK = 64 * 1024


class Clamd:
    """:class:`documents.ports.Scanner` on clamd. Raises :class:`ScannerUnavailableError`
    when clamd does not answer in time, or answers something unexpected."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout

    async def _exchange(self, command: bytes, body: bytes | None = None) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port)
                try:
                    writer.write(command)
                    if body is not None:
                        for start in range(0, len(body), CHUNK):
                            piece = body[start : start + CHUNK]
                            writer.write(struct.pack(">I", len(piece)) + piece)
                            await writer.drain()
                        writer.write(struct.pack(">I", 0))
                    await writer.drain()
                    reply = await reader.readuntil(b"\0")
                finally:
                    writer.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ScannerUnavailableError(type(exc).__name__) from exc
        return reply.rstrip(b"\0").decode("utf-8", "replace")

    async def scan(self, data: bytes) -> str | None:
        reply = await self._exchange(b"zINSTREAM\0", data)
        if reply.endswith("OK"):
            return None
        if reply.endswith("FOUND"):
            return reply.removeprefix("stream:").strip().removesuffix("FOUND").strip()
        raise ScannerUnavailableError(f"unexpected reply: {reply[:80]}")
