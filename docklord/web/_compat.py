"""The documented requests of the original Docklord, kept working exactly as written there.

``GET /api/containers?node_id=ID&password=PW`` and the WebSocket
``/observe-containers?node_id=ID&password=PW``: node credentials act as an access key to that
one node. The password is checked at the coordinator, once (failures are throttled like
logins), and never logged; revoking the node closes its observers at once.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse

from docklord.coordinator import Coordinator, Subscriber, container_json
from docklord.errors import DocklordError, InvalidInput
from docklord.web._auth import Principal, Role, authorize, live_socket
from docklord.web._container_policy import visible_rows
from docklord.web._deps import coordinator_of
from docklord.web._events_ws import pump_subscriber
from docklord.web._ws_close import close_ws

__all__ = ["router"]

router = APIRouter()


@router.get("/api/containers")
async def node_containers(request: Request, node_id: str = "", password: str = "") -> JSONResponse:
    """That node's containers, from the live cache."""
    coordinator = coordinator_of(request)
    principal = await authorize(request, Role.VIEWER, node=_required(node_id))
    coordinator.fleet.online_session(node_id)
    containers = _containers(coordinator, principal, node_id)
    return JSONResponse({"node_id": node_id, "containers": containers})


@router.websocket("/observe-containers")
async def observe_containers(ws: WebSocket) -> None:
    """The node's container list on connect, and again after every change."""
    coordinator = coordinator_of(ws)
    node_id = ws.query_params.get("node_id", "")
    try:
        principal = await authorize(ws, Role.VIEWER, node=_required(node_id))
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    sub = Subscriber(frozenset({node_id}))
    coordinator.fleet.subscribe(sub)

    def render(message: dict[str, Any]) -> dict[str, Any] | None:
        if message["kind"] in ("event", "resync", "node") and message.get("type") in (
            None,
            "container",
        ):
            return _listing(coordinator, principal, node_id)
        return None

    try:
        async with live_socket(ws, principal):  # revoking the node closes the observer
            await ws.send_text(json.dumps(_listing(coordinator, principal, node_id)))
            await pump_subscriber(ws, sub, render)
    finally:
        coordinator.fleet.unsubscribe(sub)


def _required(node_id: str) -> str:
    # A user's token needs no node_id to authenticate, but these requests are about one node.
    if not node_id:
        raise InvalidInput("node_id is required: the node whose containers to show")
    return node_id


def _containers(
    coordinator: Coordinator, principal: Principal, node_id: str
) -> list[dict[str, Any]]:
    state = coordinator.fleet.nodes.get(node_id)
    if state is None:
        return []
    # Instance containers only for admins (see docklord.web._container_policy).
    rows = [container_json(node_id, c) for c in state.containers.values()]
    return visible_rows(principal, rows)


def _listing(coordinator: Coordinator, principal: Principal, node_id: str) -> dict[str, Any]:
    state = coordinator.fleet.nodes.get(node_id)
    return {
        "node_id": node_id,
        "status": state.status.value if state else "offline",
        "containers": _containers(coordinator, principal, node_id),
    }
