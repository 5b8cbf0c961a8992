"""A container's resource samples through the coordinator: one sample (``.../stats``) or the
kept history followed by the node's live samples (``.../stats/ws``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.websockets import WebSocket

from docklord.coordinator import iso
from docklord.errors import DocklordError
from docklord.link import Channel
from docklord.protocol import PLAIN, methods
from docklord.web._auth import (
    Principal,
    Role,
    authorize,
    live_socket,
    require_node,
    websocket_policy,
)
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._relay import open_stream, relay, until_client_leaves
from docklord.web._ws_close import close_ws

__all__ = ["router", "sample_json"]

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]


def sample_json(sample: dict[str, Any]) -> dict[str, Any]:
    """A stats sample as the API shows it (``read`` as an ISO 8601 time)."""
    return {**sample, "read": iso(sample.get("read"))}


@router.get("/containers/{ref}/stats")
async def container_stats(
    node: str, ref: str, request: Request, principal: NodeViewer
) -> dict[str, Any]:
    """One resource sample of a running container (409 when it does not run)."""
    coordinator = coordinator_of(request)
    ref = await resolve(request, principal, node, ref)
    sample = await coordinator.call(node, methods.CONTAINERS_STATS_ONCE, methods.RefArgs(ref))
    return sample_json(sample)


@router.websocket("/containers/{ref}/stats/ws")
@websocket_policy(Role.VIEWER, node=True)
async def container_stats_ws(ws: WebSocket, node: str, ref: str) -> None:
    """The kept history, then one JSON sample per engine sample (about one a second) until
    the container stops."""
    coordinator = coordinator_of(ws)
    try:
        principal = await authorize(ws, Role.VIEWER, node=node)
        args = methods.RefArgs(await resolve(ws, principal, node, ref))
        channel, _ = await open_stream(coordinator, node, methods.STATS, args)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    async with live_socket(ws, principal):
        # The coordinator's history first (oldest first), then the node's live samples.
        for sample in coordinator.fleet.history.samples(node, args.ref):
            await ws.send_text(json.dumps(sample_json(dataclasses.asdict(sample))))
        await relay(ws, channel, _send_samples(ws, channel), until_client_leaves(ws))


async def _send_samples(ws: WebSocket, channel: Channel) -> None:
    while (item := await channel.receive()) is not None:
        if item[0] == PLAIN:
            await ws.send_text(json.dumps(sample_json(json.loads(item[1]))))
