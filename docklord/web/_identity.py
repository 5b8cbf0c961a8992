"""Identity administration: users, API tokens, the audit log, node registration and revocation.

Every change is written to the audit log (success or failure) with its parameters, never with a
secret. Secrets (a user's password, an API token, a node's secret, an enrollment token) appear
exactly once: in the answer to the request that created them.

Each change that succeeds is also announced on the events streams as an ``identity`` message
(``{"kind": "identity", "what": "users" | "tokens" | "enrollments", "action", ...ids}``: ids
only, never a secret or a hash), so that open pages follow changes made elsewhere; the stream
shows them to admins, and a user's own ``tokens`` changes to that user
(``docklord.web._container_policy``).
"""

from __future__ import annotations

import secrets
import shlex
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from docklord.coordinator import NodeAuthenticator, audit_json
from docklord.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from docklord.store import ApiToken, EnrollmentToken
from docklord.web._audit import audited
from docklord.web._auth import Principal, Role, auth_state, require, require_node
from docklord.web._deps import coordinator_of
from docklord.web._sign_in import MIN_PASSWORD, user_json

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Account = Annotated[Principal, Depends(require(Role.VIEWER, user=True))]
NodeAdmin = Annotated[Principal, Depends(require_node(Role.ADMIN))]

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=1000)]
RoleName = Literal["admin", "operator", "viewer"]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
LabelValue = Annotated[str, StringConstraints(max_length=256)]
#: Database row ids, bounded by their columns: users and tokens are INTEGER (32-bit on
#: PostgreSQL), audit entries BIGINT. A larger number names nothing; it is refused as bad input
#: (422) before it reaches the database driver, which fails on it (500, ``OverflowError``).
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
AuditId = Annotated[int, Field(ge=1, le=2**63 - 1)]

#: The longest an API token may live, and an enrollment token.
MAX_TOKEN_LIFETIME = 10 * 365 * 86400
MAX_ENROLL_TTL = 30 * 86400


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Body):
    """``POST /api/v1/users``."""

    username: Username
    password: Password = Field(repr=False)
    role: RoleName = "viewer"
    node_grants: list[NodeId] | None = Field(default=None, max_length=1000)


class UserChange(_Body):
    """``PATCH /api/v1/users/{id}``: only the fields given change (``node_grants: null`` means
    every node)."""

    role: RoleName | None = None
    node_grants: list[NodeId] | None = Field(default=None, max_length=1000)
    disabled: bool | None = None
    password: Password | None = Field(default=None, repr=False)


class NewToken(_Body):
    """``POST /api/v1/tokens``: ``expires_at`` or ``expires_in`` (seconds), or neither."""

    name: str = Field(min_length=1, max_length=100)
    role_scope: RoleName | None = None
    expires_at: AwareDatetime | None = None
    expires_in: int | None = Field(default=None, ge=60, le=MAX_TOKEN_LIFETIME)

    @model_validator(mode="after")
    def _one_expiry(self) -> NewToken:
        if self.expires_at is not None and self.expires_in is not None:
            raise ValueError("give expires_at or expires_in, not both")
        return self


class NodeRegistration(_Body):
    """``POST /api/v1/nodes``: pre-register a node with a secret, or invite it with a token."""

    mode: Literal["secret", "token"]
    node_id: NodeId | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    enroll_ttl: int = Field(default=86400, ge=60, le=MAX_ENROLL_TTL)


class NodeChange(_Body):
    """``PATCH /api/v1/nodes/{node}``: only the fields given change (``name: null`` or ``""``
    clears the name; ``labels`` replaces them all)."""

    name: str | None = Field(default=None, max_length=255)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)


def _revoke_sockets(request: Request, *keys: str, reason: str) -> None:
    auth_state(request.app).sockets.revoke(*keys, reason=reason)


def _announce(request: Request, what: str, action: str, **ids: int | str | None) -> None:
    """Tell the events streams that ``what`` changed (who hears of it: the module docstring)."""
    message = {"kind": "identity", "what": what, "action": action, **ids}
    coordinator_of(request).fleet.broadcast_all(message)


# ---- users ----------------------------------------------------------------------------------


@router.get("/users")
async def list_users(principal: Admin, request: Request) -> JSONResponse:
    """Every user account."""
    users = await coordinator_of(request).store.list_users()
    return JSONResponse({"users": [user_json(u) for u in users]})


@router.post("/users", status_code=201)
async def create_user(body: NewUser, principal: Admin, request: Request) -> JSONResponse:
    """Create a user with a role and, optionally, grants limiting it to some nodes."""
    params = {"role": body.role, "node_grants": body.node_grants}
    async with audited(request, principal, "user.create", target=body.username, params=params):
        user = await coordinator_of(request).store.create_user(
            body.username, body.password, body.role, body.node_grants
        )
    _announce(request, "users", "create", user_id=user.id)
    return JSONResponse(user_json(user), 201)


@router.get("/users/{user_id}")
async def get_user(user_id: RowId, principal: Admin, request: Request) -> JSONResponse:
    """One user account."""
    return JSONResponse(user_json(await coordinator_of(request).store.get_user(user_id)))


@router.patch("/users/{user_id}")
async def update_user(
    user_id: RowId, body: UserChange, principal: Admin, request: Request
) -> JSONResponse:
    """Change a user's role, grants, password or disabled flag.

    The user's live streams are closed (they reconnect with the new rights); a new password or
    disabling the account also ends the user's sessions.
    """
    given = body.model_fields_set
    if not given:
        raise InvalidInput("nothing to change: give role, node_grants, disabled or password")
    params: dict[str, Any] = {k: getattr(body, k) for k in given if k != "password"}
    if "password" in given:
        params["password_reset"] = True
    store = coordinator_of(request).store
    async with audited(request, principal, "user.update", target=str(user_id), params=params):
        # node_grants only when given: an explicit null means "every node".
        user = await store.update_user(user_id, **{k: getattr(body, k) for k in given})
        if body.password is not None or body.disabled:
            await store.delete_user_sessions(user_id)
    _revoke_sockets(request, f"user:{user_id}", reason="the user account changed")
    _announce(request, "users", "update", user_id=user_id)
    return JSONResponse(user_json(user))


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: RowId, principal: Admin, request: Request) -> Response:
    """Delete a user with its tokens and sessions (not yourself, not the last admin)."""
    async with audited(request, principal, "user.delete", target=str(user_id)):
        if user_id == principal.user_id:
            raise Conflict("you cannot delete your own account")
        await coordinator_of(request).store.delete_user(user_id)
    _revoke_sockets(request, f"user:{user_id}", reason="the user was deleted")
    _announce(request, "users", "delete", user_id=user_id)
    return Response(status_code=204)


# ---- API tokens -----------------------------------------------------------------------------


def token_json(token: ApiToken) -> dict[str, Any]:
    """An API token as the API shows it: never the token itself (only its first characters)."""
    return {
        "id": token.id,
        "user_id": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "role_scope": None if token.role_scope is None else str(token.role_scope),
        "expires_at": _iso(token.expires_at),
        "last_used_at": _iso(token.last_used_at),
        "revoked_at": _iso(token.revoked_at),
        "created_at": _iso(token.created_at),
        "active": token.is_active(datetime.now(UTC)),
    }


@router.get("/tokens")
async def list_tokens(
    principal: Account,
    request: Request,
    all_users: Annotated[bool, Query(alias="all", description="every user's (admin)")] = False,
) -> JSONResponse:
    """Your API tokens (revoked and expired ones included); ``?all=true``: everyone's (admin)."""
    if all_users and principal.role < Role.ADMIN:
        raise PermissionDenied("all=true needs the admin role")
    owner = None if all_users else principal.user_id
    tokens = await coordinator_of(request).store.list_tokens(owner)
    return JSONResponse({"tokens": [token_json(t) for t in tokens]})


@router.post("/tokens", status_code=201)
async def create_token(body: NewToken, principal: Account, request: Request) -> JSONResponse:
    """Create an API token for yourself; the answer holds the token, shown this once.

    ``role_scope`` may narrow your role, never widen it; a token made with a scoped token is
    scoped at most as that one. A token made with a token never outlives it: without an expiry
    it inherits that one's, and a later expiry is refused (``422``). ``expires_at`` is capped
    like ``expires_in`` (10 years).
    """
    scope: str | None = body.role_scope
    if scope is not None and Role.parse(scope) > principal.role:
        raise InvalidInput(f"role_scope {scope} is above your role ({principal.role.label})")
    if scope is None and principal.token_id is not None:
        scope = principal.role.label
    expires = _token_expiry(body, principal, datetime.now(UTC))
    params = {"role_scope": scope, "expires_at": _iso(expires)}
    async with audited(request, principal, "token.create", target=body.name, params=params):
        token, plaintext = await coordinator_of(request).store.create_token(
            principal.user_id, body.name, scope, expires
        )
    _announce(request, "tokens", "create", user_id=token.user_id, token_id=token.id)
    return JSONResponse({"token": plaintext, **token_json(token)}, 201)


def _token_expiry(body: NewToken, principal: Principal, now: datetime) -> datetime | None:
    """When the new token expires: as asked, at most ``MAX_TOKEN_LIFETIME`` from now and, for a
    token made with a token, never after that one (no expiry asked: that one's expiry).

    Raises:
        InvalidInput: the request asks for more than that.
    """
    expires = body.expires_at
    if body.expires_in is not None:
        expires = now + timedelta(seconds=body.expires_in)
    if expires is not None and expires > now + timedelta(seconds=MAX_TOKEN_LIFETIME):
        raise InvalidInput(
            f"expires_at may be at most {MAX_TOKEN_LIFETIME // 86400} days from now (as expires_in)"
        )
    # A session's own lifetime does not bound the tokens it makes (they exist to outlive it).
    parent = principal.expires_at if principal.token_id is not None else None
    if parent is None:
        return expires
    if expires is None:
        return parent
    if expires > parent:
        raise InvalidInput(
            f"the token would outlive the token that creates it (which expires at "
            f"{parent.isoformat()}); ask for an earlier expiry or none (that one's is inherited)"
        )
    return expires


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: RowId, principal: Account, request: Request) -> Response:
    """Revoke one of your tokens (an admin: anyone's); streams using it close at once."""
    store = coordinator_of(request).store
    async with audited(request, principal, "token.revoke", target=str(token_id)):
        token = await store.get_token(token_id)
        if token.user_id != principal.user_id and principal.role < Role.ADMIN:
            raise NotFound(f"no API token with id {token_id}")
        await store.revoke_token(token_id)
    _revoke_sockets(request, f"token:{token_id}", reason="token revoked")
    _announce(request, "tokens", "revoke", user_id=token.user_id, token_id=token_id)
    return Response(status_code=204)


# ---- audit ----------------------------------------------------------------------------------


@router.get("/audit")
async def list_audit(
    principal: Admin,
    request: Request,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    node: Annotated[str | None, Query(max_length=128)] = None,
    result: Annotated[Literal["ok", "error"] | None, Query(description="error: any")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; UTC if no zone")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; UTC if no zone")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[AuditId | None, Query()] = None,
) -> JSONResponse:
    """The audit log, newest first; page with ``before_id=<next_before_id>``."""
    entries = await coordinator_of(request).store.list_audit(
        actor=actor,
        action=action,
        target_node=node,
        result=result,
        since=_aware(since),
        until=_aware(until),
        limit=limit,
        before_id=before_id,
    )
    more = len(entries) == limit
    return JSONResponse(
        {
            "entries": [audit_json(e) for e in entries],
            "next_before_id": entries[-1].id if more and entries else None,
        }
    )


# ---- nodes ----------------------------------------------------------------------------------


@router.post("/nodes", status_code=201)
async def register_node(body: NodeRegistration, principal: Admin, request: Request) -> JSONResponse:
    """Pre-register a node: with a secret (``mode: secret``) or a one-time enrollment token
    (``mode: token``). The answer holds the secret or token (shown this once) and the command
    to start the node with.
    """
    node_id = body.node_id or secrets.token_hex(8)
    params = {"mode": body.mode, "name": body.name, "labels": body.labels}
    async with audited(
        request, principal, "node.preregister", node=node_id, target=body.name, params=params
    ):
        answer = await _preregister(request, principal, body, node_id)
    url = _link_url(request)
    return JSONResponse(
        {
            "node_id": node_id,
            "mode": body.mode,
            **answer,
            "coordinator": url,
            "command": _node_command(url, node_id, answer),
        },
        201,
    )


async def _preregister(
    request: Request, principal: Principal, body: NodeRegistration, node_id: str
) -> dict[str, Any]:
    coordinator = coordinator_of(request)
    if body.mode == "secret":
        password = await coordinator.register_node(node_id, name=body.name, labels=body.labels)
        return {"password": password}
    _, enrollment, token = await coordinator.auth.invite(
        node_id,
        ttl=timedelta(seconds=body.enroll_ttl),
        created_by=principal.user_id,
        name=body.name,
        labels=body.labels,
    )
    _announce(request, "enrollments", "create", node_id=node_id, enrollment_id=enrollment.id)
    return {"enroll_token": token, "expires_at": enrollment.expires_at.isoformat()}


def _node_command(url: str, node_id: str, answer: dict[str, Any]) -> str:
    """The line to paste on the node's host; the secret goes in the environment, so that it
    does not show in the process list."""
    flags = [f"--coordinator={url}"]
    if "password" in answer:
        env = f"DOCKLORD_PASSWORD={shlex.quote(answer['password'])}"
        flags.append(f"--node-id={node_id}")
    else:
        env = f"DOCKLORD_ENROLL_TOKEN={shlex.quote(answer['enroll_token'])}"
    return f"{env} docklord node " + " ".join(shlex.quote(f) for f in flags)


@router.delete("/nodes/{node}")
async def revoke_node(node: str, principal: NodeAdmin, request: Request) -> JSONResponse:
    """Revoke a node: its live link closes at once and it is refused from then on.

    A node invited with an enrollment token that it has not used yet has the token withdrawn.
    """
    coordinator = coordinator_of(request)
    async with audited(request, principal, "node.revoke", node=node):
        outcome = await coordinator.revoke_node(node)
    _revoke_sockets(request, f"node:{node}", reason="node revoked")
    if outcome == "withdrawn":
        _announce(request, "enrollments", "withdraw", node_id=node)
    return JSONResponse({"node_id": node, "status": outcome})


@router.get("/enrollments")
async def list_enrollments(principal: Admin, request: Request) -> JSONResponse:
    """The enrollment tokens not used yet (and not expired), oldest first; never the token."""
    auth = coordinator_of(request).auth
    pending = await coordinator_of(request).store.list_enrollments(pending_only=True)
    return JSONResponse({"enrollments": [_enrollment_json(auth, e) for e in pending]})


@router.delete("/enrollments/{enrollment_id}", status_code=204)
async def withdraw_enrollment(enrollment_id: RowId, principal: Admin, request: Request) -> Response:
    """Withdraw an enrollment token not used yet: it never works from now on."""
    auth = coordinator_of(request).auth
    async with audited(request, principal, "node.withdraw", target=str(enrollment_id)) as entry:
        withdrawn = await auth.withdraw(enrollment_id)
        entry.target = withdrawn.node_id or entry.target  # the node id it was reserved for
    _announce(request, "enrollments", "withdraw", node_id=withdrawn.node_id)
    return Response(status_code=204)


def _enrollment_json(auth: NodeAuthenticator, enrollment: EnrollmentToken) -> dict[str, Any]:
    name, labels = auth.invitation(enrollment.node_id)
    return {
        "id": enrollment.id,
        "node_id": enrollment.node_id,
        "name": name,
        "labels": labels,
        "created_by": enrollment.created_by,
        "created_at": enrollment.created_at.isoformat(),
        "expires_at": enrollment.expires_at.isoformat(),
    }


@router.patch("/nodes/{node}")
async def update_node(
    node: str, body: NodeChange, principal: NodeAdmin, request: Request
) -> JSONResponse:
    """Rename or relabel a registered node (linked or not); answers the node as listed."""
    given = body.model_fields_set
    if not given:
        raise InvalidInput("nothing to change: give name or labels")
    changes: dict[str, Any] = {k: getattr(body, k) for k in given}
    coordinator = coordinator_of(request)
    async with audited(request, principal, "node.update", node=node, params=changes):
        state = await coordinator.update_node(node, **changes)
    return JSONResponse(state.to_json())


def _link_url(request: Request) -> str:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
