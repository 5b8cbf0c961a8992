"""A webhook receiver on 127.0.0.1 that records what it is sent (for alert tests).

Each path behaves as told: answer 200 (the default), answer 500 to the first N requests and
then 200 (``fail_first``), or never answer (``hang``: the connection stays open until the
sender gives up). Minimal HTTP/1.1: one request per connection, a ``Content-Length`` body.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

__all__ = ["ReceivedHook", "WebhookReceiver"]

_MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class ReceivedHook:
    """One request the receiver got (``status`` is what it answered; ``None``: it hung)."""

    path: str
    body: Any
    at: float
    status: int | None


class WebhookReceiver:
    """``async with WebhookReceiver() as hooks:`` then send to ``hooks.url("/a")``."""

    def __init__(self) -> None:
        self.received: list[ReceivedHook] = []
        self._fail_first: dict[str, int] = {}
        self._hang: set[str] = set()
        self._server: asyncio.Server | None = None
        self._hanging: set[asyncio.Event] = set()
        self.port = 0

    def fail_first(self, path: str, count: int) -> None:
        """Answer 500 to the first ``count`` requests to ``path``."""
        self._fail_first[path] = count

    def hang(self, path: str) -> None:
        """Never answer requests to ``path``."""
        self._hang.add(path)

    def url(self, path: str) -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[ReceivedHook]:
        """What ``path`` received, in order."""
        return [r for r in self.received if r.path == path]

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for gate in self._hanging:
            gate.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            path, body = await self._read(reader)
            status = self._answer(path)
            self.received.append(ReceivedHook(path, body, time.time(), status))
            if status is None:
                gate = asyncio.Event()
                self._hanging.add(gate)
                await gate.wait()
                return
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[str, Any]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *headers = head.split("\r\n")
        path = request_line.split(" ")[1]
        length = 0
        for header in headers:
            name, _, value = header.partition(":")
            if name.strip().lower() == "content-length":
                length = min(int(value.strip()), _MAX_BODY)
        raw = await reader.readexactly(length) if length else b""
        return path, json.loads(raw) if raw else None

    def _answer(self, path: str) -> int | None:
        if path in self._hang:
            return None
        left = self._fail_first.get(path, 0)
        if left > 0:
            self._fail_first[path] = left - 1
            return 500
        return 200
