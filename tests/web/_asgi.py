"""An in-process coordinator app for the web tests; the WebSocket client ships in
``docklord.testing`` (:class:`~docklord.testing.AsgiWebSocket`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator
from docklord.testing import AsgiWebSocket
from docklord.web import create_app

__all__ = ["AsgiWebSocket", "coordinator_app"]


@asynccontextmanager
async def coordinator_app(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, Any, str]]:
    """A coordinator on a fresh SQLite file (no listeners), its ASGI app, an admin token."""
    config = CoordinatorConfig(
        data_dir=str(tmp_path / "data"), grpc_port=0, admin_password="admin-test-password"
    )
    async with Coordinator(config, announce=lambda _: None) as coordinator:
        admin = await coordinator.store.get_user_by_name("admin")
        _, token = await coordinator.store.create_token(admin.id, "test")
        yield coordinator, create_app(coordinator), token
