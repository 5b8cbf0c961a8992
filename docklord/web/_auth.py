"""Who is calling and what they may do: authentication, roles, policies, live revocation.

Every REST route declares what it needs with a dependency, ``require(Role.X)`` or
``require_node(Role.X)`` (routes with a ``{node}`` path parameter); WebSocket routes, which
authenticate inside the handler, declare the same with ``@websocket_policy(Role.X)``. The few
routes that need no user (login, health, the node link, the documented node-credential requests)
are listed in :data:`PUBLIC_ROUTES`. A test walks ``app.routes`` and fails on any route that has
neither.

Credentials, in the order they are looked at:

1. ``Authorization: Bearer <token>`` (an API token or a session token from the login),
2. ``?token=<token>`` (WebSocket clients that cannot set headers),
3. ``?node_id=ID&password=PW``: a node's credentials, an access key for that one node with the
   viewer role,
4. the session cookie; a cookie-authenticated WebSocket upgrade, or a state-changing request,
   from another origin is refused (``403``).

Live WebSocket streams register with :class:`LiveSockets` (``async with live_socket(ws, p):``)
so that revoking a token, ending a session, changing a user or revoking a node closes them at
once (close code ``4401``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from fastapi.routing import iter_route_contexts
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from docklord.errors import NotFound, PermissionDenied, Unauthenticated
from docklord.store import Store
from docklord.web._deps import coordinator_of
from docklord.web._live import REVOKED_CLOSE, LiveSocket, LiveSockets
from docklord.web._principal import Principal, Role
from docklord.web._throttle import LoginThrottle, TooManyAttempts, node_keys

__all__ = [
    "PUBLIC_ROUTES",
    "REVOKED_CLOSE",
    "SESSION_COOKIE",
    "AuthState",
    "LiveSocket",
    "LiveSockets",
    "Policy",
    "Principal",
    "Role",
    "TooManyAttempts",
    "auth_state",
    "authenticate",
    "authorize",
    "live_socket",
    "policy_of",
    "require",
    "require_node",
    "routes_of",
    "source_of",
    "websocket_policy",
]

log = structlog.get_logger(__name__)

SESSION_COOKIE = "docklord_session"

#: Routes that need no user: they are public, or check their own credentials (the node link's
#: handshake, the documented ``?node_id=&password=`` requests).
PUBLIC_ROUTES = frozenset(
    {
        "/api/v1/auth/login",
        "/api/v1/link",
        "/api/containers",
        "/observe-containers",
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
    }
)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# ---- policies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """What a route needs.

    Attributes:
        role: the least role.
        node_scoped: the route acts on its ``{node}``; a caller without a grant for that node
            is told the node does not exist (``404``), exactly as for an unknown node.
        user_only: node credentials are refused (the route manages a user's own account).
    """

    role: Role
    node_scoped: bool = False
    user_only: bool = False


Dependency = Callable[[HTTPConnection], Awaitable[Principal]]
F = TypeVar("F", bound=Callable[..., Any])


def require(role: Role, *, user: bool = False) -> Dependency:
    """A FastAPI dependency: authenticate, then insist on at least ``role``.

    Args:
        role: the least role.
        user: refuse node credentials (routes about the caller's own user account).
    """
    return _dependency(Policy(role, node_scoped=False, user_only=user))


def require_node(role: Role) -> Dependency:
    """Like :func:`require`, for routes with a ``{node}`` path parameter.

    A caller without a grant for the node gets ``404`` (the node's existence is not revealed);
    a caller with too low a role gets ``403``.
    """
    return _dependency(Policy(role, node_scoped=True))


def _dependency(policy: Policy) -> Dependency:
    async def dependency(conn: HTTPConnection) -> Principal:
        node = conn.path_params.get("node") if policy.node_scoped else None
        return await authorize(conn, policy, node=node)

    dependency.policy = policy  # type: ignore[attr-defined]
    dependency.required_role = policy.role  # type: ignore[attr-defined]
    return dependency


def websocket_policy(role: Role, *, node: bool = False, user: bool = False) -> Callable[[F], F]:
    """Declares what a WebSocket route needs (it authenticates inside its handler)::

        @router.websocket("/api/v1/nodes/{node}/containers/{ref}/logs/ws")
        @websocket_policy(Role.VIEWER, node=True)
        async def logs_ws(ws: WebSocket) -> None:
            principal = await authorize(ws, Role.VIEWER, node=ws.path_params["node"])

    The declaration is what the authorization test checks the handler's behaviour against.
    """

    def mark(endpoint: F) -> F:
        endpoint.policy = Policy(role, node_scoped=node, user_only=user)  # type: ignore[attr-defined]
        endpoint.required_role = role  # type: ignore[attr-defined]
        return endpoint

    return mark


def routes_of(app: Any) -> list[Any]:
    """Every route of ``app``, with routers included (``path``, ``methods``, ``endpoint``)."""
    return list(iter_route_contexts(app.routes))


def policy_of(route: Any) -> Policy | None:
    """The policy a route declares (via its dependencies or its endpoint), if any."""
    found: list[Policy] = []
    declared = getattr(getattr(route, "endpoint", None), "policy", None)
    if isinstance(declared, Policy):
        found.append(declared)
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        for dep in dependant.dependencies:
            policy = getattr(dep.call, "policy", None)
            if isinstance(policy, Policy):
                found.append(policy)
            pending.append(dep)
    if not found:
        return None
    return max(found, key=lambda p: (p.role, p.node_scoped, p.user_only))


async def authorize(
    conn: HTTPConnection, policy: Policy | Role, *, node: str | None = None
) -> Principal:
    """Authenticate ``conn`` and check it against ``policy`` (for routes and WebSockets).

    Raises:
        Unauthenticated: no valid credentials. PermissionDenied: too low a role, or node
        credentials on a user-only route. NotFound: ``node`` is not granted to the caller.
    """
    if isinstance(policy, Role):
        policy = Policy(policy, node_scoped=node is not None)
    principal = await authenticate(conn, coordinator_of(conn).store)
    try:
        if principal.role < policy.role:
            raise PermissionDenied(f"this needs the {policy.role.label} role")
        if policy.user_only and not principal.is_user:
            raise PermissionDenied("node credentials cannot do this; sign in as a user")
    except PermissionDenied as exc:
        await _audit_denied(conn, principal, exc)
        raise
    if node is not None and not principal.may_see(node):
        raise NotFound(f"no such node: {node}")
    return principal


async def _audit_denied(conn: HTTPConnection, principal: Principal, exc: PermissionDenied) -> None:
    method = conn.scope.get("method", "WEBSOCKET")
    if method in _SAFE_METHODS:
        return
    await coordinator_of(conn).store.record(
        principal.actor,
        "access.denied",
        target=conn.url.path[:255],
        params={"method": method},
        result=f"error: {exc.code}",
        source_addr=source_of(conn),
    )


# ---- authentication -------------------------------------------------------------------------


def source_of(conn: HTTPConnection) -> str:
    """The client's address (``""`` when unknown)."""
    return conn.client.host if conn.client else ""


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate(conn: HTTPConnection, store: Store) -> Principal:
    """Establish the caller from a bearer token, ``?token=``, node credentials or the cookie.

    Raises:
        Unauthenticated: no credentials, or credentials that are unknown, expired or revoked
            (``TooManyAttempts``, a subclass, after repeated wrong node credentials).
        PermissionDenied: a cookie-authenticated WebSocket upgrade or state-changing request
            from another origin.
    """
    token = _bearer(conn) or conn.query_params.get("token")
    if token:
        return await _from_token(store, token, via_cookie=False)
    node_id, password = conn.query_params.get("node_id"), conn.query_params.get("password")
    if node_id and password:
        return await _from_node_credentials(conn, node_id, password)
    cookie = conn.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
    if conn.scope["type"] == "websocket" or conn.scope.get("method") not in _SAFE_METHODS:
        _check_origin(conn)
    return await _from_token(store, cookie, via_cookie=True)


async def _from_token(store: Store, token: str, *, via_cookie: bool) -> Principal:
    resolved = None if via_cookie else await store.resolve_token(token)
    if resolved is not None:
        api_token, user = resolved
        return Principal(
            f"token:{api_token.id}",
            user.username,
            user.id,
            user.role.capped(api_token.role_scope),
            _grants(user.node_grants),
            token_id=api_token.id,
            expires_at=api_token.expires_at,
        )
    session = await store.resolve_session(token)
    if session is None:
        raise Unauthenticated("invalid, expired or revoked credentials")
    sess, user = session
    return Principal(
        f"user:{user.username}",
        user.username,
        user.id,
        user.role,
        _grants(user.node_grants),
        via_cookie,
        session_id=sess.id,
        expires_at=sess.expires_at,
    )


async def _from_node_credentials(conn: HTTPConnection, node_id: str, password: str) -> Principal:
    throttle = auth_state(conn.app).throttle
    keys = node_keys(throttle, node_id[:128], source_of(conn))
    throttle.attempt(keys)
    try:
        await coordinator_of(conn).auth.check(node_id, password)
    except Unauthenticated:
        throttle.failed(keys)
        raise
    throttle.succeeded(keys)
    throttle.trust(keys[0])
    return Principal(
        f"node:{node_id}", f"node:{node_id}", 0, Role.VIEWER, frozenset({node_id}), node_id=node_id
    )


def _grants(grants: Iterable[str] | None) -> frozenset[str] | None:
    return None if grants is None else frozenset(grants)


def _check_origin(conn: HTTPConnection) -> None:
    origin = conn.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != conn.headers.get("host", ""):
        raise PermissionDenied(f"cross-origin request from {origin[:100]} refused")


# ---- per-application state ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthState:
    """The per-application state of authentication: login throttling and live sockets."""

    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    sockets: LiveSockets = field(default_factory=LiveSockets)


def auth_state(app: Any) -> AuthState:
    """The :class:`AuthState` of ``app`` (made on first use)."""
    state = getattr(app.state, "docklord_auth", None)
    if state is None:
        state = AuthState()
        app.state.docklord_auth = state
    return state


def live_socket(ws: WebSocket, principal: Principal) -> LiveSocket:
    """Register a stream so revocation closes it: ``async with live_socket(ws, principal):``."""
    return auth_state(ws.app).sockets.track(principal, ws)
