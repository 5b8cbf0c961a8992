from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from docklord.errors import NotFound, PermissionDenied, Unauthenticated
from docklord.store import Store

__all__ = [
    "SESSION_COOKIE",
    "Principal",
    "Role",
    "authenticate",
    "require",
    "require_node",
]

SESSION_COOKIE = "docklord_session"


class Role(IntEnum):
    """What a caller may do; each role includes the ones below it."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name`` (``admin``, ``operator``, ``viewer``)."""
        return cls[name.upper()]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as established by :func:`authenticate`.

    Attributes:
        actor: how the audit log names the caller (``user:alice``, ``token:7``).
        role: the effective role (a token's scope can only lower its user's role).
        nodes: the nodes the caller may see, or ``None`` for every node.
        via_cookie: the credentials came from a browser session cookie.
    """

    actor: str
    username: str
    user_id: int
    role: Role
    nodes: frozenset[str] | None = None
    via_cookie: bool = False

    def may_see(self, node_id: str) -> bool:
        """Whether the caller may see or act on ``node_id``."""
        return self.nodes is None or node_id in self.nodes


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate(conn: HTTPConnection, store: Store) -> Principal:
    """Establish the caller from a bearer token, a ``?token=`` or the session cookie.

    Raises:
        Unauthenticated: no credentials, or credentials that are unknown, expired or revoked.
        PermissionDenied: a browser WebSocket upgrade from another origin.
    """
    token = _bearer(conn) or conn.query_params.get("token")
    via_cookie = False
    if token is None:
        token = conn.cookies.get(SESSION_COOKIE)
        via_cookie = token is not None
    if not token:
        raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
    if via_cookie and conn.scope["type"] == "websocket":
        _check_origin(conn)
    resolved = await store.resolve_token(token)
    if resolved is not None:
        api_token, user = resolved
        role = Role.parse(user.role)
        if api_token.role_scope:
            role = min(role, Role.parse(api_token.role_scope))
        return Principal(
            f"token:{api_token.id}", user.username, user.id, role, _grants(user.node_grants)
        )
    session = await store.resolve_session(token)
    if session is not None:
        sess, user = session
        return Principal(
            f"user:{user.username}",
            user.username,
            user.id,
            Role.parse(user.role),
            _grants(user.node_grants),
            via_cookie,
        )
    raise Unauthenticated("invalid, expired or revoked credentials")


def _grants(grants: Iterable[str] | None) -> frozenset[str] | None:
    return None if grants is None else frozenset(grants)


def _check_origin(conn: HTTPConnection) -> None:
    origin = conn.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != conn.headers.get("host", ""):
        raise PermissionDenied(f"cross-origin WebSocket from {origin} refused")


def require(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency: authenticate, then insist on at least ``role``."""

    async def dependency(conn: HTTPConnection) -> Principal:
        principal = await authenticate(conn, conn.app.state.coordinator.store)
        if principal.role < role:
            raise PermissionDenied(f"this needs the {role.name.lower()} role")
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency


def require_node(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """Like :func:`require`, for routes with a ``{node}`` path parameter.

    A caller without a grant for the node gets ``404`` (the node's existence is not revealed);
    a caller with too low a role gets ``403``.
    """
    check_role = require(role)

    async def dependency(conn: HTTPConnection) -> Principal:
        principal = await check_role(conn)
        node = conn.path_params.get("node", "")
        if not principal.may_see(node):
            raise NotFound(f"no such node: {node}")
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency
