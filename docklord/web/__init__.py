"""The coordinator's HTTP face: REST API, WebSocket streams, node link endpoint, operations."""

from __future__ import annotations

from docklord.web._app import create_app, error_response
from docklord.web._auth import SESSION_COOKIE, Principal, Role, authenticate, require

__all__ = [
    "SESSION_COOKIE",
    "Principal",
    "Role",
    "authenticate",
    "create_app",
    "error_response",
    "require",
]
