"""The raw Docker API tunnel: a WebSocket carrying bytes to a node's engine socket.

``/api/v1/nodes/{node}/docker/ws`` (admin): each WebSocket is one fresh connection to the
node's engine socket. Binary frames carry bytes both ways; a text frame ``{"type": "eof"}``
says that side has nothing more to send (a TCP half-close), which hijacked calls such as
``docker run`` (attach) and ``docker exec`` need. ``docklord tunnel`` turns this into a local
TCP or unix socket that the unmodified ``docker`` CLI and SDKs talk to.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from fastapi import APIRouter
from starlette.websockets import WebSocket

from docklord.errors import DocklordError, InvalidInput
from docklord.link import Channel
from docklord.protocol import CONTROL, EOF, PLAIN, methods, parse_control
from docklord.web._audit import audit
from docklord.web._auth import Principal, Role, authorize, live_socket, websocket_policy
from docklord.web._client_messages import parse_message
from docklord.web._deps import coordinator_of
from docklord.web._relay import open_stream, relay
from docklord.web._ws_close import close_ws

__all__ = ["TUNNEL_WINDOW", "router"]

log = structlog.get_logger(__name__)

router = APIRouter()

#: Each direction of a tunnel may hold this many unread bytes (image pulls and saves are big).
TUNNEL_WINDOW = 1024 * 1024
_EOF_TEXT = json.dumps({"type": "eof"})


@router.websocket("/api/v1/nodes/{node}/docker/ws")
@websocket_policy(Role.ADMIN, node=True)
async def docker_tunnel(ws: WebSocket, node: str) -> None:
    """Raw bytes to and from a fresh connection to the node's Docker Engine socket."""
    principal: Principal | None = None
    try:
        principal = await authorize(ws, Role.ADMIN, node=node)
        channel, _ = await open_stream(
            coordinator_of(ws), node, methods.TUNNEL, window=TUNNEL_WINDOW
        )
    except DocklordError as exc:
        if principal is not None:
            await audit(ws, principal, "node.docker_tunnel", node=node, error=exc)
        await close_ws(ws, exc)
        return
    # The docker CLI opens a connection per call or two: write the audit entry while the
    # bytes already flow, and make sure it is written before the handler ends.
    recorded = asyncio.create_task(audit(ws, principal, "node.docker_tunnel", node=node))
    try:
        await ws.accept()
        async with live_socket(ws, principal):
            await relay(ws, channel, _to_client(ws, channel), _from_client(ws, channel))
    finally:
        await recorded


async def _to_client(ws: WebSocket, channel: Channel) -> None:
    while (item := await channel.receive()) is not None:
        stream, data = item
        if stream != CONTROL:
            await ws.send_bytes(data)
        elif parse_control(data)["type"] == "eof":
            await ws.send_text(_EOF_TEXT)


async def _from_client(ws: WebSocket, channel: Channel) -> None:
    while (incoming := await ws.receive())["type"] != "websocket.disconnect":
        if incoming.get("bytes"):
            await channel.send(incoming["bytes"], PLAIN)
        elif incoming.get("text") is not None:
            if parse_message(incoming)["type"] != "eof":
                raise InvalidInput('the only text frame a tunnel accepts is {"type": "eof"}')
            await channel.send(EOF, CONTROL)
