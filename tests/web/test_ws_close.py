"""One close-code mapping for every WebSocket route, in-process (no server, no node)."""

from __future__ import annotations

from pathlib import Path

import pytest

from docklord.errors import (
    DocklordError,
    EngineError,
    InvalidInput,
    NodeOffline,
    NotFound,
    PermissionDenied,
    RequestTimeout,
    Unauthenticated,
)
from docklord.model import Role
from docklord.web._ws_close import close_code
from tests.web._asgi import AsgiWebSocket, coordinator_app


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidInput("x"), 4400),
        (Unauthenticated("x"), 4401),
        (PermissionDenied("x"), 4403),
        (NotFound("x"), 4404),
        (EngineError("x"), 4502),
        (NodeOffline("x"), 4503),
        (RequestTimeout("x"), 4504),
        (DocklordError("x"), 4500),
    ],
)
def test_each_error_has_its_close_code(exc: DocklordError, code: int) -> None:
    assert close_code(exc) == code


async def _closed_with(app: object, path: str, **query: str) -> tuple[int, str]:
    async with AsgiWebSocket(app, path, **query) as ws:
        event = await ws.next_event()
    assert event["type"] == "websocket.close", event
    return event["code"], event.get("reason", "")


async def test_the_events_socket_and_the_compat_socket_close_alike(tmp_path: Path) -> None:
    async with coordinator_app(tmp_path) as (coordinator, app, token):
        viewer = await coordinator.store.create_user("vera", "pw-" + "x" * 12, Role.VIEWER, ["a"])
        _, vera = await coordinator.store.create_token(viewer.id, "test")
        assert await _closed_with(app, "/api/v1/events/ws") == (
            4401,
            "authentication required: send Authorization: Bearer <token>",
        )
        code, _ = await _closed_with(app, "/api/v1/events/ws", token=token, since_seq="x:y")
        assert code == 4400
        # A node the caller may not see is "no such node" on every socket (it was 4500 here).
        code, reason = await _closed_with(app, "/observe-containers", token=vera, node_id="b")
        assert (code, reason) == (4404, "no such node: b")
