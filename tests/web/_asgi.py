"""An in-process coordinator app and a WebSocket client that drives it over ASGI directly.

httpx's ``ASGITransport`` has no WebSocket support; this client speaks the ASGI WebSocket
messages itself, so a route runs exactly as under uvicorn, without a server or a port.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator
from docklord.web import create_app


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


class AsgiWebSocket:
    """``async with AsgiWebSocket(app, path, token=...) as ws:`` then ``send``/``receive``."""

    def __init__(self, app: Any, path: str, **query: str) -> None:
        self.app = app
        self.path = path
        self.query = urlencode(query)
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": self.query.encode(),
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "subprotocols": [],
            "state": {},
        }
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        accepted = await self.next_event()
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def next_event(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), 5)

    async def send_text(self, text: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.to_app.put({"type": "websocket.receive", "bytes": data})

    async def receive_json(self) -> dict[str, Any]:
        event = await self.next_event()
        assert event["type"] == "websocket.send", event
        return json.loads(event["text"])  # type: ignore[no-any-return]
