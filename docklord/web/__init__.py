"""The coordinator's HTTP face: REST API, WebSocket streams, node link endpoint, operations."""

from __future__ import annotations

from docklord.web._app import create_app, error_response
from docklord.web._audit import audit
from docklord.web._auth import SESSION_COOKIE, authenticate, require, require_node
from docklord.web._principal import Principal, Role

__all__ = [
    "SESSION_COOKIE",
    "Principal",
    "Role",
    "audit",
    "authenticate",
    "create_app",
    "error_response",
    "require",
    "require_node",
]
