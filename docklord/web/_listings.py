"""The fleet as the live cache holds it: ``/nodes``, ``/nodes/{node}``, ``/containers`` and
``/nodes/{node}/containers``, filtered and sorted; no request here calls a node."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from docklord.web._auth import Principal, Role, require, require_node
from docklord.web._container_policy import visible_rows
from docklord.web._deps import coordinator_of

__all__ = ["router", "sort_rows"]

router = APIRouter(prefix="/api/v1")

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]


@router.get("/nodes")
async def list_nodes(principal: Viewer, request: Request) -> JSONResponse:
    """Every node the caller may see, online or not."""
    fleet = coordinator_of(request).fleet
    nodes = [s.to_json() for s in fleet.nodes.values() if principal.may_see(s.node_id)]
    return JSONResponse({"nodes": sorted(nodes, key=lambda n: n["node_id"])})


@router.get("/nodes/{node}")
async def get_node(node: str, principal: NodeViewer, request: Request) -> JSONResponse:
    """One node: status, last seen, engine, container counts."""
    return JSONResponse(coordinator_of(request).fleet.node(node).to_json())


@router.get("/containers")
async def list_containers(
    principal: Viewer,
    request: Request,
    node: Annotated[list[str] | None, Query(description="only these nodes")] = None,
    state: Annotated[list[str] | None, Query(description="only these states")] = None,
    q: Annotated[str | None, Query(description="substring of name, image or id")] = None,
    label: Annotated[list[str] | None, Query(description="key or key=value")] = None,
    sort: Annotated[
        SortKey | None,
        Query(description="cpu_percent and memory_usage sort highest first, unsampled last"),
    ] = None,
) -> JSONResponse:
    """Every container of every online node the caller may see, from the live cache."""
    fleet = coordinator_of(request).fleet
    nodes = [n for n in (node or list(fleet.nodes)) if principal.may_see(n)]
    rows = [c for c in fleet.containers(nodes) if _matches(c, state, q, label)]
    rows = visible_rows(principal, rows)  # instances only for admins
    if sort is not None:
        rows = sort_rows(rows, sort)
    return JSONResponse({"containers": rows, "count": len(rows)})


@router.get("/nodes/{node}/containers")
async def list_node_containers(
    node: str,
    principal: NodeViewer,
    request: Request,
    state: Annotated[list[str] | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
    label: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    """The containers of one node; an offline node answers 503 at once."""
    fleet = coordinator_of(request).fleet
    fleet.online_session(node)
    rows = [c for c in fleet.containers([node]) if _matches(c, state, q, label)]
    rows = visible_rows(principal, rows)  # instances only for admins
    return JSONResponse({"containers": rows, "count": len(rows)})


SortKey = Literal["name", "node_id", "state", "cpu_percent", "memory_usage"]


def sort_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows by ``key``: names ascending; CPU and memory highest first, unsampled ones last."""
    if key in ("cpu_percent", "memory_usage"):
        return sorted(rows, key=lambda c: (key not in c, -c.get(key, 0), c["name"]))
    return sorted(rows, key=lambda c: (str(c[key]), c["name"]))


def _matches(
    c: dict[str, Any], states: list[str] | None, q: str | None, labels: list[str] | None
) -> bool:
    if states and c["state"] not in states:
        return False
    if q:
        needle = q.lower()
        if not any(needle in str(c[k]).lower() for k in ("name", "image", "id")):
            return False
    for item in labels or ():
        key, sep, value = item.partition("=")
        if key not in c["labels"] or (sep and c["labels"][key] != value):
            return False
    return True
