from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from docklord.errors import NotFound, Unauthenticated
from docklord.web._auth import SESSION_COOKIE, Principal, Role, require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]

SESSION_TTL = timedelta(hours=12)


class Login(BaseModel):
    """Credentials for ``POST /api/v1/auth/login``."""

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


@router.post("/auth/login")
async def login(body: Login, request: Request) -> JSONResponse:
    """Exchange a username and password for a session token (also set as a cookie)."""
    coordinator = request.app.state.coordinator
    source = request.client.host if request.client else ""
    user = await coordinator.store.authenticate(body.username, body.password)
    if user is None or user.disabled:
        raise Unauthenticated("invalid username or password")
    session, token = await coordinator.store.create_session(user.id, SESSION_TTL, source)
    response = JSONResponse(
        {
            "token": token,
            "expires_at": session.expires_at.isoformat(),
            "user": {"id": user.id, "username": user.username, "role": user.role},
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/me")
async def me(principal: Viewer) -> dict[str, Any]:
    """Who the caller is and what it may do."""
    return {
        "username": principal.username,
        "role": principal.role.name.lower(),
        "actor": principal.actor,
        "nodes": None if principal.nodes is None else sorted(principal.nodes),
    }


@router.get("/nodes")
async def list_nodes(principal: Viewer, request: Request) -> JSONResponse:
    """Every node the caller may see, online or not."""
    fleet = request.app.state.coordinator.fleet
    nodes = [s.to_json() for s in fleet.nodes.values() if principal.may_see(s.node_id)]
    return JSONResponse({"nodes": sorted(nodes, key=lambda n: n["node_id"])})


@router.get("/nodes/{node}")
async def get_node(node: str, principal: Viewer, request: Request) -> JSONResponse:
    """One node: status, last seen, engine, container counts."""
    if not principal.may_see(node):
        raise NotFound(f"no such node: {node}")
    return JSONResponse(request.app.state.coordinator.fleet.node(node).to_json())


@router.get("/containers")
async def list_containers(
    principal: Viewer,
    request: Request,
    node: Annotated[list[str] | None, Query(description="only these nodes")] = None,
    state: Annotated[list[str] | None, Query(description="only these states")] = None,
    q: Annotated[str | None, Query(description="substring of name, image or id")] = None,
    label: Annotated[list[str] | None, Query(description="key or key=value")] = None,
) -> JSONResponse:
    """Every container of every online node the caller may see, from the live cache."""
    fleet = request.app.state.coordinator.fleet
    nodes = [n for n in (node or list(fleet.nodes)) if principal.may_see(n)]
    rows = [c for c in fleet.containers(nodes) if _matches(c, state, q, label)]
    return JSONResponse({"containers": rows, "count": len(rows)})


@router.get("/nodes/{node}/containers")
async def list_node_containers(
    node: str,
    principal: Viewer,
    request: Request,
    state: Annotated[list[str] | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
    label: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    """The containers of one node; an offline node answers 503 at once."""
    if not principal.may_see(node):
        raise NotFound(f"no such node: {node}")
    fleet = request.app.state.coordinator.fleet
    fleet.online_session(node)
    rows = [c for c in fleet.containers([node]) if _matches(c, state, q, label)]
    return JSONResponse({"containers": rows, "count": len(rows)})


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
