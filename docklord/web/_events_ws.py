"""The fleet's live events socket, ``/api/v1/events/ws``: a snapshot (or a resume from
``since_seq``), then every change the caller may see, in order per node."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from docklord._aio import first_of
from docklord.coordinator import Subscriber
from docklord.errors import DocklordError, InvalidInput, PermissionDenied
from docklord.web._auth import Principal, Role, authenticate, live_socket, websocket_policy
from docklord.web._container_policy import visible_message
from docklord.web._deps import coordinator_of
from docklord.web._ws_close import TOO_SLOW, close_ws

__all__ = ["parse_since", "pump_subscriber", "router", "ws_principal"]

log = structlog.get_logger(__name__)

router = APIRouter()


async def ws_principal(ws: WebSocket, role: Role) -> Principal:
    """Authenticate a WebSocket upgrade and insist on ``role``."""
    principal = await authenticate(ws, coordinator_of(ws).store)
    if principal.role < role:
        raise PermissionDenied(f"this needs the {role.name.lower()} role")
    return principal


def parse_since(raw: str | None) -> dict[str, int] | None:
    """``since_seq`` as a JSON object or ``node:seq,node:seq``."""
    if raw is None or raw == "":
        return None
    try:
        if raw.lstrip().startswith("{"):
            data = json.loads(raw)
            return {str(k): int(v) for k, v in data.items()}
        pairs = (item.rsplit(":", 1) for item in raw.split(",") if item)
        return {node: int(seq) for node, seq in pairs}
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(
            "since_seq must be a JSON object or node:seq pairs separated by commas"
        ) from exc


@router.websocket("/api/v1/events/ws")
@websocket_policy(Role.VIEWER)
async def events_ws(ws: WebSocket) -> None:
    """Fleet events: a snapshot (unless resuming), then every change, in order per node."""
    try:
        principal = await ws_principal(ws, Role.VIEWER)
        since = parse_since(ws.query_params.get("since_seq"))
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    fleet = coordinator_of(ws).fleet
    sub = Subscriber(principal.nodes)
    first = fleet.subscribe(sub, since)
    try:
        async with live_socket(ws, principal):
            if first is not None:
                await ws.send_text(json.dumps(visible_message(principal, first)))
            # Instance containers only for admins (see docklord.web._container_policy).
            await pump_subscriber(ws, sub, lambda m: visible_message(principal, m))
    finally:
        fleet.unsubscribe(sub)


async def pump_subscriber(
    ws: WebSocket, sub: Subscriber, render: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> None:
    """Send the subscriber's messages until the client leaves or falls too far behind."""

    async def sender() -> None:
        while True:
            message = render(await sub.queue.get())
            if message is not None:
                await ws.send_text(json.dumps(message))
            if sub.overflowed and sub.queue.empty():
                await ws.close(TOO_SLOW, "client too slow; reconnect with since_seq")
                return

    async def reader() -> None:
        while True:
            incoming = await ws.receive()
            if incoming["type"] == "websocket.disconnect":
                return

    try:
        await first_of(sender(), reader())
    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
        log.debug("stream client left", error=str(exc))
