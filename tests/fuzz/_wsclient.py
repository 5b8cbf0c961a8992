"""A minimal ASGI WebSocket client with timeouts, run on the app's own event loop.

It plays the server's part of the ASGI WebSocket protocol: it hands the app ``connect``,
``receive`` and ``disconnect`` messages and collects what the app sends. Whatever the app
raises comes out of :meth:`AsgiSocket.finish`, as it would reach uvicorn (which logs it and
drops the connection): that is what the fuzzers look for.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

__all__ = ["AsgiSocket", "Closed"]

#: Seconds to wait for the app's next message before saying it said nothing.
QUIET = 2.0


class Closed(Exception):
    """The app closed the socket (or refused it): ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


@dataclass
class AsgiSocket:
    """One WebSocket conversation with ``app`` at ``path``."""

    app: ASGIApp
    path: str
    query: dict[str, str | list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Message] = field(default_factory=list)
    _inbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    _outbox: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    close_code: int | None = None
    accepted: bool = False

    async def connect(self) -> None:
        """Start the app and wait until it accepts; raises :class:`Closed` if it refuses."""
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 40000),
            "root_path": "",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": urlencode(self.query, doseq=True).encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
            + [(b"host", b"testserver")],
            "subprotocols": [],
            "state": {},
        }
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "websocket.connect"})
        first = await self.next_message()
        if first["type"] != "websocket.accept":
            raise AssertionError(f"unexpected first message {first}")
        self.accepted = True

    async def send_text(self, text: str) -> None:
        await self._inbox.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._inbox.put({"type": "websocket.receive", "bytes": data})

    async def next_message(self, timeout: float = QUIET) -> Message:  # noqa: ASYNC109
        """The app's next message; :class:`Closed` for a close, ``TimeoutError`` for silence."""
        message = await self._take(timeout)
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code", 1000))
            raise Closed(self.close_code, str(message.get("reason", "")))
        if message["type"] == "websocket.http.response.start":
            # Starlette answers an exception raised in a WebSocket handler with an HTTP
            # response; after the accept, uvicorn can only log it and drop the connection.
            self.close_code = int(message["status"])
            when = "after accepting it" if self.accepted else "instead of accepting"
            raise Closed(1006, f"the handler raised: HTTP {self.close_code} {when}")
        self.received.append(message)
        return message

    async def _take(self, timeout: float) -> Message:  # noqa: ASYNC109
        assert self._task is not None
        if not self._outbox.empty():
            return self._outbox.get_nowait()
        getter = asyncio.ensure_future(self._outbox.get())
        done, _ = await asyncio.wait(
            {getter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in done:
            return getter.result()
        getter.cancel()
        if not self._outbox.empty():
            return self._outbox.get_nowait()
        if self._task in done:
            self._task.result()  # the app's exception, if it raised
            raise Closed(1006, "the handler returned without closing")
        raise TimeoutError(f"{self.path}: nothing from the app within {timeout} s")

    async def next_json(self, timeout: float = QUIET) -> Any:  # noqa: ASYNC109
        """The next text frame, parsed; a binary frame is returned as bytes."""
        message = await self.next_message(timeout)
        if message.get("text") is not None:
            return json.loads(message["text"])
        return message.get("bytes")

    async def finish(self, timeout: float = QUIET) -> None:  # noqa: ASYNC109
        """Disconnect (if still open) and wait for the handler; re-raises what it raised."""
        if self._task is None:
            return
        await self._inbox.put({"type": "websocket.disconnect", "code": 1000})
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            raise AssertionError(
                f"{self.path}: the handler did not end after a disconnect"
            ) from None
        self._task.result()
