"""The node link endpoint over WebSocket, ``/api/v1/link``: binary protobuf frames, and the
link's own handshake authenticates the node (``docklord.coordinator``'s link manager)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket

from docklord.link import StarletteWebSocketTransport
from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter()


@router.websocket("/api/v1/link")
async def link_ws(ws: WebSocket) -> None:
    """The node link over WebSocket: binary protobuf frames; the handshake authenticates."""
    await ws.accept()
    transport = StarletteWebSocketTransport(ws)
    try:
        await coordinator_of(ws).links.serve(transport)
    except asyncio.CancelledError:
        await transport.close()
        raise
