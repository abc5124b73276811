"""Malware scanning with ClamAV's clamd (INSTREAM over TCP), behind a port."""

from __future__ import annotations

import asyncio
import struct
from typing import Protocol

CHUNK = 64 * 1024


class ScannerUnavailableError(Exception):
    """The scanner did not answer: the upload must be refused, never stored unscanned."""


class Scanner(Protocol):
    async def scan(self, data: bytes) -> str | None:
        """None when clean, else the name of what was found."""
        ...

    async def ping(self) -> None: ...


class Clamd:
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

    async def ping(self) -> None:
        if await self._exchange(b"zPING\0") != "PONG":
            raise ScannerUnavailableError("no PONG")
