"""Live sockets: revoking credentials interrupts the streams opened with them, at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from docklord.web._auth import REVOKED_CLOSE, LiveSockets, Principal, Role


class FakeWebSocket:
    def __init__(self) -> None:
        self.application_state = WebSocketState.CONNECTED
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


def principal(**kw: Any) -> Principal:
    base: dict[str, Any] = {
        "actor": "token:7",
        "username": "alice",
        "user_id": 3,
        "role": Role.VIEWER,
        "token_id": 7,
    }
    return Principal(**{**base, **kw})


async def stream(registry: LiveSockets, who: Principal, ws: FakeWebSocket) -> str:
    async with registry.track(who, ws):  # type: ignore[arg-type]
        await asyncio.sleep(3600)
        return "ended"
    return "revoked"


async def test_revoking_a_token_closes_its_streams_only() -> None:
    registry = LiveSockets()
    mine, other = FakeWebSocket(), FakeWebSocket()
    task = asyncio.create_task(stream(registry, principal(), mine))
    bystander = asyncio.create_task(stream(registry, principal(token_id=8), other))
    await asyncio.sleep(0)
    assert len(registry) == 2
    assert registry.revoke("token:7", reason="token revoked") == 1
    assert await asyncio.wait_for(task, 1) == "revoked"
    assert mine.closed == (REVOKED_CLOSE, "token revoked")
    assert other.closed is None and not bystander.done()
    assert registry.revoke("user:3", reason="user deleted") == 1
    assert await asyncio.wait_for(bystander, 1) == "revoked"
    assert len(registry) == 0


async def test_keys_of_each_kind_of_credentials() -> None:
    assert principal().keys == ("user:3", "token:7")
    assert principal(token_id=None, session_id=4).keys == ("user:3", "session:4")
    assert principal(node_id="n1").keys == ("node:n1",)


async def test_a_cancellation_from_elsewhere_is_not_absorbed() -> None:
    registry = LiveSockets()
    ws = FakeWebSocket()
    task = asyncio.create_task(stream(registry, principal(), ws))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ws.closed is None and len(registry) == 0


async def test_expiring_credentials_close_the_stream_when_they_expire() -> None:
    registry = LiveSockets()
    ws = FakeWebSocket()
    soon = datetime.now(UTC) + timedelta(seconds=0.05)
    task = asyncio.create_task(stream(registry, principal(expires_at=soon), ws))
    assert await asyncio.wait_for(task, 2) == "revoked"
    assert ws.closed == (REVOKED_CLOSE, "credentials expired")


async def test_a_stream_that_ended_is_not_touched() -> None:
    registry = LiveSockets()
    ws = FakeWebSocket()
    async with registry.track(principal(), ws):  # type: ignore[arg-type]
        pass
    assert registry.revoke("token:7") == 0
    assert ws.closed is None
