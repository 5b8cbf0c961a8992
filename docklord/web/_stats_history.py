"""Resource history from the coordinator's ring buffers (filled by the nodes' sampling).

``GET /api/v1/nodes/{node}/containers/{ref}/stats/history?since=...`` and
``GET /api/v1/nodes/{node}/stats/history?since=...``: ``since`` is Unix seconds, an RFC 3339
time or a duration ago (``10m``); without it, everything kept. Neither calls the node: an
offline node's history is still served.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from docklord.coordinator import Coordinator, iso, resolve_ref
from docklord.errors import InvalidInput
from docklord.model import StatsSample
from docklord.web._auth import Principal, Role, require_node
from docklord.web._container_policy import may_reach
from docklord.web._deps import coordinator_of
from docklord.web._relay import parse_time

__all__ = ["container_history", "router", "stats_json"]

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]
Since = Annotated[
    str | None, Query(description="Unix seconds, RFC 3339 time, or a duration ago (10m)")
]


def stats_json(sample: StatsSample) -> dict[str, Any]:
    """A sample as the API and the stats stream show it (``read`` as an ISO 8601 time)."""
    return {**dataclasses.asdict(sample), "read": iso(sample.read)}


def _since(value: str | None) -> float:
    try:
        return parse_time(value) or 0.0
    except ValueError as exc:
        raise InvalidInput(f"since: {exc}") from exc


def container_history(
    coordinator: Coordinator, principal: Principal, node: str, ref: str, since: float
) -> list[Any]:
    """The samples of container ``ref`` on ``node`` after ``since``, oldest first.

    ``ref`` is resolved in the cache, also for an offline node (its history is kept), among
    the containers ``principal`` may reach (an instance's only for admins).
    """
    fleet = coordinator.fleet
    state = fleet.node(node)
    reachable = (
        (node, s) for s in state.containers.values() if may_reach(principal, s.labels, s.name)
    )
    cid = resolve_ref(ref, reachable)[1].id
    return [stats_json(s) for s in fleet.history.samples(node, cid, since)]


@router.get("/containers/{ref}/stats/history")
async def container_stats_history(
    node: str, ref: str, request: Request, principal: NodeViewer, since: Since = None
) -> JSONResponse:
    """The container's samples kept by the coordinator (default the last hour)."""
    coordinator: Coordinator = coordinator_of(request)
    samples = container_history(coordinator, principal, node, ref, _since(since))
    interval = coordinator.fleet.history.interval(node)
    return JSONResponse({"node_id": node, "interval": interval, "samples": samples})


@router.get("/stats/history")
async def node_stats_history(
    node: str, request: Request, principal: NodeViewer, since: Since = None
) -> JSONResponse:
    """The node's aggregates: CPU and memory summed over its containers, container counts."""
    coordinator: Coordinator = coordinator_of(request)
    coordinator.fleet.node(node)
    history = coordinator.fleet.history
    rows = [
        {**dataclasses.asdict(s), "time": iso(s.time)}
        for s in history.node_samples(node, _since(since))
    ]
    return JSONResponse({"node_id": node, "interval": history.interval(node), "samples": rows})
