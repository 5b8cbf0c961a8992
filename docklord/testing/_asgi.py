"""A WebSocket client that drives an ASGI app directly: no server, no port.

httpx's ``ASGITransport`` has no WebSocket support; this client speaks the ASGI WebSocket
messages itself, so a route runs exactly as under uvicorn, on the caller's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

__all__ = ["AsgiWebSocket", "WebSocketRefused"]

#: Seconds a receive waits for the app before the test is told so (never a hang).
RECEIVE_TIMEOUT = 5.0


class WebSocketRefused(AssertionError):  # noqa: N818 - reads as what happened, like httpx's
    """The app closed the socket instead of accepting it; ``code`` is its close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"websocket refused with {code}: {reason}")
        self.code = code
        self.reason = reason


class AsgiWebSocket:
    """``async with AsgiWebSocket(app, path, token=...) as ws:`` then ``send``/``receive``.

    The query arguments become the query string. Entering waits for the app to accept the
    socket (``WebSocketRefused`` if it closes instead); leaving disconnects with 1000 and waits
    for the route to return.
    """

    def __init__(self, app: ASGIApp, path: str, **query: str) -> None:
        self.app = app
        self.path = path
        self.query = urlencode(query)
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": self.query.encode(),
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": [],
            "state": {},
        }
        # An ASGI app is a coroutine function; ASGIApp types it as returning an Awaitable.
        app = cast(Coroutine[Any, Any, None], self.app(scope, self.to_app.get, self.from_app.put))
        self.task = asyncio.create_task(app)
        await self.to_app.put({"type": "websocket.connect"})
        first = await self.next_event()
        if first["type"] == "websocket.close":
            await asyncio.wait_for(self.task, RECEIVE_TIMEOUT)
            raise WebSocketRefused(first.get("code", 1000), first.get("reason", ""))
        assert first["type"] == "websocket.accept", first
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, RECEIVE_TIMEOUT)

    async def next_event(self, timeout: float = RECEIVE_TIMEOUT) -> Message:  # noqa: ASYNC109
        """The next ASGI message the app sent (``websocket.send``, ``websocket.close``...)."""
        return await asyncio.wait_for(self.from_app.get(), timeout)

    async def send_text(self, text: str) -> None:
        """Send a text frame to the app."""
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame to the app."""
        await self.to_app.put({"type": "websocket.receive", "bytes": data})

    async def receive_json(self, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
        """The next text frame, parsed; fails the test if the app sent anything else."""
        event = await self.next_event(timeout)
        assert event["type"] == "websocket.send", event
        message: dict[str, Any] = json.loads(event["text"])
        return message
