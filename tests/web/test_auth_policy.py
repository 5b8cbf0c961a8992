"""Every route declares what it needs: a new route without a policy fails here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket

from docklord.web import create_app
from docklord.web._auth import (
    PUBLIC_ROUTES,
    Policy,
    Role,
    policy_of,
    require,
    require_node,
    routes_of,
    websocket_policy,
)


def app_routes() -> list[Any]:
    return routes_of(create_app(object()))  # type: ignore[arg-type]


def describe(route: Any) -> str:
    methods = ",".join(sorted(getattr(route, "methods", None) or {"WS"}))
    return f"{methods} {route.path} ({type(route).__name__})"


def test_every_route_declares_a_policy_or_is_public() -> None:
    undeclared = [
        describe(r) for r in app_routes() if r.path not in PUBLIC_ROUTES and policy_of(r) is None
    ]
    assert not undeclared, (
        "routes without require()/require_node()/@websocket_policy and not in PUBLIC_ROUTES: "
        f"{undeclared}"
    )


def test_routes_on_a_node_are_node_scoped() -> None:
    loose = [
        describe(r)
        for r in app_routes()
        if "{node}" in r.path
        and r.path not in PUBLIC_ROUTES
        and (p := policy_of(r)) is not None
        and not p.node_scoped
    ]
    assert not loose, f"routes under {{node}} that do not check node grants: {loose}"


def test_public_routes_exist() -> None:
    paths = {r.path for r in app_routes()}
    assert paths >= PUBLIC_ROUTES, PUBLIC_ROUTES - paths


def test_policies_are_found_on_dependencies_and_endpoints() -> None:
    router = APIRouter()

    @router.get("/a")
    async def a(p: Annotated[Any, Depends(require(Role.OPERATOR))]) -> None: ...

    @router.get("/n/{node}", dependencies=[Depends(require_node(Role.VIEWER))])
    async def n(node: str) -> None: ...

    @router.get("/me", dependencies=[Depends(require(Role.VIEWER, user=True))])
    async def me() -> None: ...

    @router.websocket("/w/{node}")
    @websocket_policy(Role.ADMIN, node=True)
    async def w(ws: WebSocket) -> None: ...

    @router.get("/open")
    async def open_() -> None: ...

    found = {r.path: policy_of(r) for r in routes_of(router)}
    assert found == {
        "/a": Policy(Role.OPERATOR),
        "/n/{node}": Policy(Role.VIEWER, node_scoped=True),
        "/me": Policy(Role.VIEWER, user_only=True),
        "/w/{node}": Policy(Role.ADMIN, node_scoped=True),
        "/open": None,
    }
