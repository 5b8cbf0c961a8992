"""The one way a route reaches its :class:`~docklord.coordinator.Coordinator`, typed.

``create_app`` keeps the coordinator on the application; every HTTP route and WebSocket
endpoint gets it through :func:`coordinator_of`, so no route reads ``app.state`` and none sees
it as ``Any``.
"""

from __future__ import annotations

from typing import cast

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from docklord.coordinator import Coordinator

__all__ = ["coordinator_of", "keep_coordinator"]


def keep_coordinator(app: Starlette, coordinator: Coordinator) -> None:
    """Attach ``coordinator`` to ``app`` (``create_app`` does this once)."""
    app.state.coordinator = coordinator


def coordinator_of(conn: HTTPConnection) -> Coordinator:
    """The coordinator serving ``conn`` (a request or a WebSocket)."""
    return cast(Coordinator, conn.app.state.coordinator)
