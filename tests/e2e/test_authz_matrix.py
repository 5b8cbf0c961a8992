"""The authorization matrix: every route of the app, tried with every kind of caller.

Routes are enumerated from the application at test time, so routes added later are covered
without touching this file. For each route the declared policy (``require``, ``require_node``
or ``@websocket_policy``) gives the exact expected answer of each caller:

- anonymous, a revoked token, an expired token: ``401`` (WebSocket close ``4401``);
- a role below the policy's, or node credentials on a user-only route: ``403`` (``4403``);
- a caller without a grant for the route's ``{node}`` (a user limited to other nodes, the
  credentials of another node): ``404`` over HTTP; over WebSocket exactly the close code an
  admin gets for a node that does not exist, so the node's existence is not revealed;
- anyone else: exactly what the admin gets, which must not be ``401``/``403``/``5xx`` other than
  the ``503`` of the offline node the requests are aimed at (so nothing is changed anywhere).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from docklord.testing import CoordinatorProcess, NodeProcess, eventually
from docklord.web import create_app
from docklord.web._auth import PUBLIC_ROUTES, Policy, policy_of, routes_of

from .conftest import api, started_coordinator, wait_online
from .test_identity import make_token, make_user

pytestmark = pytest.mark.e2e

MISSING_NODE = "dl-missing-node"
#: Exact admin answers for the identity and fleet routes (the others are compared to admin).
EXACT_ADMIN: dict[tuple[str, str], Any] = {
    ("GET", "/api/v1/me"): 200,
    ("PATCH", "/api/v1/me/password"): 422,
    ("POST", "/api/v1/auth/logout"): 204,
    ("GET", "/api/v1/users"): 200,
    ("POST", "/api/v1/users"): 422,
    ("GET", "/api/v1/users/{user_id}"): 404,
    ("PATCH", "/api/v1/users/{user_id}"): 422,
    ("DELETE", "/api/v1/users/{user_id}"): 404,
    ("GET", "/api/v1/tokens"): 200,
    ("POST", "/api/v1/tokens"): 422,
    ("DELETE", "/api/v1/tokens/{token_id}"): 404,
    ("GET", "/api/v1/audit"): 200,
    ("GET", "/api/v1/nodes"): 200,
    ("POST", "/api/v1/nodes"): 422,
    ("GET", "/api/v1/nodes/{node}"): 200,
    ("DELETE", "/api/v1/nodes/{node}"): 200,
    ("GET", "/api/v1/containers"): 200,
    ("GET", "/api/v1/nodes/{node}/containers"): 503,
    ("WS", "/api/v1/events/ws"): "open",
}


@dataclass
class Caller:
    """One kind of caller: how it authenticates, its role and the nodes it may see."""

    name: str
    role: int  # 0: no valid credentials
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    nodes: set[str] | None = None
    is_node_key: bool = False


@dataclass
class World:
    coordinator: CoordinatorProcess
    target: str  # a registered node that linked once and is offline now
    doomed: str  # a registered node the admin may revoke
    callers: list[Caller]
    admin: Caller


@pytest.fixture(scope="module")
def coordinator_m(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoordinatorProcess]:
    with started_coordinator(tmp_path_factory.mktemp("matrix"), registration="enroll") as proc:
        yield proc


@pytest.fixture(scope="module")
async def world(
    coordinator_m: CoordinatorProcess, docker_host: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    coord = coordinator_m
    async with api(coord, coord.login()) as admin:
        target, target_pw = await _register(admin)
        other, other_pw = await _register(admin)
        doomed, _ = await _register(admin)
        await _link_once(admin, coord, target, target_pw, docker_host, tmp_path_factory)
        callers = await _callers(coord, admin, other, other_pw)
    yield World(coord, target, doomed, callers, next(c for c in callers if c.name == "admin"))


async def _register(admin: httpx.AsyncClient) -> tuple[str, str]:
    answer = (await admin.post("/api/v1/nodes", json={"mode": "secret"})).json()
    return answer["node_id"], answer["password"]


async def _link_once(
    admin: httpx.AsyncClient,
    coord: CoordinatorProcess,
    node_id: str,
    password: str,
    docker_host: str,
    tmp: pytest.TempPathFactory,
) -> None:
    node = NodeProcess(
        [coord.ws_url], node_id, password, docker_host=docker_host, workdir=tmp.mktemp("node")
    )
    node.start()
    try:
        await wait_online(admin, node_id)
    finally:
        node.stop()

    async def offline() -> bool:
        return bool((await admin.get(f"/api/v1/nodes/{node_id}")).json()["status"] == "offline")

    await eventually(offline, what="the target node offline")


async def _callers(
    coord: CoordinatorProcess, admin: httpx.AsyncClient, other: str, other_pw: str
) -> list[Caller]:
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def user_token(role: str, grants: list[str] | None = None) -> str:
        user, password = await make_user(admin, role, grants)
        session = (
            await admin.post(
                "/api/v1/auth/login", json={"username": user["username"], "password": password}
            )
        ).json()["token"]
        async with api(coord, session) as client:
            return str((await make_token(client))["token"])

    revoked = await make_token(admin)
    await admin.delete(f"/api/v1/tokens/{revoked['id']}")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expired = (await make_token(admin, expires_at=soon))["token"]
    callers = [
        Caller("anonymous", 0),
        Caller("viewer", 1, bearer(await user_token("viewer"))),
        Caller("operator", 2, bearer(await user_token("operator"))),
        Caller("admin", 3, bearer((await make_token(admin))["token"])),
        Caller(
            "no-grant", 2, bearer(await user_token("operator", [other])), nodes=frozenset({other})
        ),
        Caller("revoked", 0, bearer(revoked["token"])),
        Caller("expired", 0, bearer(expired)),
        Caller("node-key", 1, params={"node_id": other, "password": other_pw}, is_node_key=True),
    ]
    callers[-1].nodes = {other}

    async def has_expired() -> bool:
        async with api(coord, expired) as client:
            return (await client.get("/api/v1/me")).status_code == 401

    await eventually(has_expired, what="the short-lived token to expire")
    return callers


# ---- requests -------------------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def fill(path: str, node: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "node":
            return node
        return "999999" if name.endswith("id") else "dl-missing"

    return _PARAM.sub(value, path)


async def http_call(
    world: World, caller: Caller, method: str, path: str, node: str
) -> tuple[int, str]:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    async with httpx.AsyncClient(
        base_url=world.coordinator.url, headers=caller.headers, params=caller.params, timeout=10
    ) as client:
        response = await client.request(method, fill(path, node), json=body)
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = ""
    return response.status_code, code


async def ws_call(world: World, caller: Caller, path: str, node: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in caller.params.items())
    url = f"ws://127.0.0.1:{world.coordinator.port}{fill(path, node)}"
    url += f"?{query}" if query else ""
    try:
        async with websockets.connect(url, additional_headers=caller.headers) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                return "open"
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else "dropped"
            return "open"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"


# ---- expectations ---------------------------------------------------------------------------


def denial(caller: Caller, policy: Policy | None, ws: bool) -> Any:
    """The answer ``caller`` must get if authorization stops it, else ``None``."""
    if caller.role == 0:
        return 4401 if ws else 401
    if policy is None:
        return None
    if caller.role < policy.role or (policy.user_only and caller.is_node_key):
        return 4403 if ws else 403
    return None


def lacks_grant(caller: Caller, policy: Policy | None, node: str) -> bool:
    return bool(
        policy and policy.node_scoped and caller.nodes is not None and node not in caller.nodes
    )


@dataclass
class Route:
    method: str
    path: str
    policy: Policy | None

    @property
    def ws(self) -> bool:
        return self.method == "WS"


def app_routes() -> list[Route]:
    found: list[Route] = []
    for route in routes_of(create_app(object())):  # type: ignore[arg-type]
        if route.path in PUBLIC_ROUTES:
            continue
        methods = sorted(route.methods or {"WS"})
        found.extend(Route(m, route.path, policy_of(route)) for m in methods if m != "HEAD")
    return found


async def outcome(world: World, caller: Caller, route: Route, node: str) -> Any:
    if route.ws:
        return await ws_call(world, caller, route.path, node)
    status, _ = await http_call(world, caller, route.method, route.path, node)
    return status


async def check_route(world: World, route: Route) -> list[str]:
    node = (
        world.doomed
        if (route.method, route.path) == ("DELETE", "/api/v1/nodes/{node}")
        else (world.target)
    )
    problems: list[str] = []
    results: dict[str, Any] = {}
    others = [c for c in world.callers if c is not world.admin]
    for caller in others:
        results[caller.name] = await outcome(world, caller, route, node)
    results["admin"] = await outcome(world, world.admin, route, node)
    unknown = None
    if route.ws and any(lacks_grant(c, route.policy, node) for c in others):
        unknown = await outcome(world, world.admin, route, MISSING_NODE)
    admin_result = results["admin"]
    exact = EXACT_ADMIN.get((route.method, route.path))
    if exact is not None and admin_result != exact:
        problems.append(f"admin got {admin_result}, expected exactly {exact}")
    if route.policy is not None and admin_result in (401, 403, 500, 4401, 4403, 1011):
        problems.append(f"admin refused or failed: {admin_result}")
    for caller in others:
        expected = denial(caller, route.policy, route.ws)
        if expected is None and route.policy is None:
            continue  # undeclared route: only the unauthenticated cases are known
        if expected is None and lacks_grant(caller, route.policy, node):
            expected = unknown if route.ws else 404
        if expected is None:
            expected = admin_result
        if results[caller.name] != expected:
            problems.append(f"{caller.name} got {results[caller.name]}, expected {expected}")
    print(
        f"{route.method:6} {route.path:58} "
        + " ".join(f"{results[c.name]!s:>5}" for c in world.callers)
    )
    return [f"{route.method} {route.path}: {p}" for p in problems]


async def test_every_route_enforces_its_declared_policy(world: World) -> None:
    routes = app_routes()
    assert len(routes) > 15
    print("\n" + " " * 66 + " ".join(f"{c.name[:5]:>5}" for c in world.callers))
    problems: list[str] = []
    for route in routes:
        problems.extend(await check_route(world, route))
    assert not problems, "\n".join(problems)


def test_every_route_declares_a_policy() -> None:
    """Undeclared routes are only checked for ``401`` above: declare them."""
    undeclared = [f"{r.method} {r.path}" for r in app_routes() if r.policy is None]
    assert not undeclared, f"routes without a declared policy: {undeclared}"


async def test_node_credentials_open_the_documented_requests_for_their_node_only(
    world: World,
) -> None:
    node_key = next(c for c in world.callers if c.is_node_key)
    async with httpx.AsyncClient(base_url=world.coordinator.url, timeout=10) as client:
        own = await client.get("/api/containers", params=node_key.params)
        # The right key; its node is registered but never linked, so it is offline.
        assert own.status_code == 503 and own.json()["error"]["code"] == "node_offline"
        other = {**node_key.params, "node_id": world.target}
        assert (await client.get("/api/containers", params=other)).status_code == 401
    observe = Caller("other-node", 0, params={**node_key.params, "node_id": world.target})
    assert await ws_call(world, observe, "/observe-containers", "") == 4401
