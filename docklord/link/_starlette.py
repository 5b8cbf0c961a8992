"""The coordinator's end of a WebSocket link: an accepted Starlette WebSocket.

Apart from ``docklord.link._websocket`` so that a node, which only dials, never loads Starlette
(and anyio): about 6 MB of a node's memory.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected
from starlette.websockets import WebSocketState as StarletteState

from docklord.errors import InvalidInput, LinkClosed
from docklord.protocol import Envelope, decode, encode

__all__ = ["StarletteWebSocketTransport"]

log = structlog.get_logger(__name__)


class StarletteWebSocketTransport:
    """The coordinator's end of a WebSocket link, over an *accepted* Starlette WebSocket.

    Returning from the route closes the socket; :meth:`close` closes it earlier.

    Args:
        websocket: the connection, after ``await websocket.accept()``.
        peer: a name for logs; by default the client's address.
    """

    def __init__(self, websocket: WebSocket, *, peer: str | None = None) -> None:
        if websocket.application_state is not StarletteState.CONNECTED:
            raise ValueError("the WebSocket must be accepted before it carries a link")
        self._ws = websocket
        client = websocket.client
        self._peer = peer or (f"{client.host}:{client.port}" if client else "websocket client")
        self._closed = False
        self._close_lock = asyncio.Lock()

    @property
    def peer(self) -> str:
        """The client's address."""
        return self._peer

    async def send(self, env: Envelope) -> None:
        """Sends one frame as a binary message."""
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        try:
            await self._ws.send_bytes(encode(env))
        except (WebSocketDisconnect, WebSocketDisconnected) as exc:
            self._closed = True
            raise LinkClosed(f"link to {self._peer} was lost") from exc

    async def receive(self) -> Envelope:
        """Waits for the next binary message."""
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        try:
            message = await self._ws.receive()
        except WebSocketDisconnected as exc:
            self._closed = True
            raise LinkClosed(f"link to {self._peer} is closed") from exc
        if message["type"] == "websocket.disconnect":
            self._closed = True
            raise LinkClosed(f"link to {self._peer} closed (code {message.get('code', 1005)})")
        data = message.get("bytes")
        if data is None:
            raise InvalidInput(f"{self._peer} sent a text message on the link")
        return decode(data)

    async def close(self) -> None:
        """Sends a normal closure (1000) unless the socket is already closed; idempotent."""
        async with self._close_lock:
            if self._closed:
                return
            self._closed = True
            if self._ws.application_state is not StarletteState.CONNECTED:
                return
            try:
                await self._ws.close(code=1000)
            except (WebSocketDisconnect, WebSocketDisconnected) as exc:
                log.debug("link.websocket_close_failed", peer=self._peer, error=repr(exc))
