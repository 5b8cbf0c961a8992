"""Signing in and out, and the caller's own account: ``/auth/login``, ``/auth/logout``,
``/me`` and ``/me/password``.

A session is a cookie for browsers and a bearer token for everyone else; failed attempts are
throttled by user and by source address (``docklord.web._throttle``) and audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from docklord.errors import Unauthenticated
from docklord.store import User
from docklord.web._audit import audit
from docklord.web._auth import (
    SESSION_COOKIE,
    Principal,
    Role,
    TooManyAttempts,
    auth_state,
    require,
    source_of,
)
from docklord.web._deps import coordinator_of

__all__ = ["MIN_PASSWORD", "Login", "PasswordChange", "router", "user_json"]

router = APIRouter(prefix="/api/v1")

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
#: A signed-in user (node credentials are refused: they have no session to end).
Account = Annotated[Principal, Depends(require(Role.VIEWER, user=True))]

SESSION_TTL = timedelta(hours=12)
#: Shortest password a user may choose.
MIN_PASSWORD = 8


class Login(BaseModel):
    """Credentials for ``POST /api/v1/auth/login``."""

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000, repr=False)


class PasswordChange(BaseModel):
    """``PATCH /api/v1/me/password``: the current password and the new one."""

    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=1000, repr=False)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=1000, repr=False)


@router.post("/auth/login")
async def login(body: Login, request: Request) -> JSONResponse:
    """Exchange a username and password for a session token (also set as a cookie).

    Failed attempts slow down per account and per address: ``429`` with ``Retry-After``.
    Every attempt is written to the audit log.
    """
    store = coordinator_of(request).store
    keys = _throttle_keys(request, body.username)
    try:
        auth_state(request.app).throttle.attempt(keys)
        user = await store.authenticate(body.username, body.password)
        if user is None:
            raise Unauthenticated("invalid username or password")
    except Unauthenticated as exc:
        if not isinstance(exc, TooManyAttempts):
            auth_state(request.app).throttle.failed(keys)
        await _audit_login(request, body.username, exc)
        return _failure(exc)
    auth_state(request.app).throttle.succeeded(keys)
    session, token = await store.create_session(user.id, SESSION_TTL, source_of(request))
    await _audit_login(request, body.username, None)
    response = JSONResponse(
        {"token": token, "expires_at": session.expires_at.isoformat(), "user": user_json(user)}
    )
    _set_cookie(response, request, token)
    return response


@router.post("/auth/logout", status_code=204)
async def logout(principal: Account, request: Request) -> Response:
    """End the session that made the request (cookie or session token) and clear the cookie.

    API tokens are not affected: revoke them with ``DELETE /api/v1/tokens/{id}``. Node
    credentials are refused (``403``).
    """
    if principal.session_id is not None:
        await coordinator_of(request).store.delete_session(principal.session_id)
        auth_state(request.app).sockets.revoke(
            f"session:{principal.session_id}", reason="signed out"
        )
    await audit(request, principal, "auth.logout")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/me")
async def me(principal: Viewer) -> dict[str, Any]:
    """Who the caller is and what it may do."""
    return {
        "user_id": principal.user_id if principal.is_user else None,
        "username": principal.username,
        "role": principal.role.label,
        "actor": principal.actor,
        "nodes": None if principal.nodes is None else sorted(principal.nodes),
        "via": _via(principal),
        "expires_at": principal.expires_at.isoformat() if principal.expires_at else None,
    }


@router.patch("/me/password")
async def change_password(
    body: PasswordChange,
    principal: Account,
    request: Request,
) -> Response:
    """Change your own password (the current one is needed); ends your other sessions.

    When the request came with a session, a fresh session replaces it (new token and cookie).
    """
    store = coordinator_of(request).store
    keys = _throttle_keys(request, principal.username)
    try:
        auth_state(request.app).throttle.attempt(keys)
        if await store.authenticate(principal.username, body.old_password) is None:
            raise Unauthenticated("the current password is wrong")
    except Unauthenticated as exc:
        if not isinstance(exc, TooManyAttempts):
            auth_state(request.app).throttle.failed(keys)
        await audit(request, principal, "user.password", target=principal.username, error=exc)
        return _failure(exc)
    auth_state(request.app).throttle.succeeded(keys)
    await store.update_user(principal.user_id, password=body.new_password)
    ended = await _end_sessions(request, principal.user_id)
    await audit(request, principal, "user.password", target=principal.username)
    return await _after_password_change(request, principal, ended)


async def _after_password_change(request: Request, principal: Principal, ended: int) -> Response:
    result: dict[str, Any] = {"changed": True, "sessions_ended": ended}
    if principal.session_id is None:
        return JSONResponse(result)
    store = coordinator_of(request).store
    session, token = await store.create_session(principal.user_id, SESSION_TTL, source_of(request))
    result.update(token=token, expires_at=session.expires_at.isoformat())
    response = JSONResponse(result)
    _set_cookie(response, request, token)
    return response


async def _end_sessions(request: Request, user_id: int) -> int:
    store = coordinator_of(request).store
    sessions = await store.list_sessions(user_id)
    count: int = await store.delete_user_sessions(user_id)
    keys = [f"session:{s.id}" for s in sessions]
    auth_state(request.app).sockets.revoke(*keys, reason="password changed")
    return count


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it (never a password hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "role": str(user.role),
        "node_grants": None if user.node_grants is None else list(user.node_grants),
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
    }


def _throttle_keys(request: Request, username: str) -> tuple[str, str]:
    return f"user:{username.strip().lower()[:200]}", f"addr:{source_of(request)}"


def _failure(exc: Unauthenticated) -> JSONResponse:
    headers = {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"error": exc.to_dict()}, exc.status, headers=headers)


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _via(principal: Principal) -> str:
    if principal.node_id is not None:
        return "node"
    return "token" if principal.token_id is not None else "session"


async def _audit_login(request: Request, username: str, error: Unauthenticated | None) -> None:
    await coordinator_of(request).store.record(
        f"user:{username.strip().lower()[:200]}",
        "auth.login",
        result="ok" if error is None else f"error: {error.code}",
        source_addr=source_of(request) or None,
    )
