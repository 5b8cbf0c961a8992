"""The documented LittleWings socket (/api/ws) end to end, on a real engine."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import eventually

from .conftest import api, store_of
from .test_logs_stats import StreamFleet, running_fleet

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stream_fleet(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[StreamFleet]:
    """One coordinator and one node for the whole module."""
    async with running_fleet(tmp_path_factory, docker_host) as fleet:
        yield fleet


class Wings:
    """A LittleWings client that keeps what it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def expect(
        self, predicate: Callable[[dict[str, Any]], bool], wait: float = 10.0
    ) -> dict[str, Any]:
        """The next message matching ``predicate`` (earlier ones are kept, not returned)."""

        async def scan() -> dict[str, Any]:
            while True:
                message = json.loads(await self.ws.recv())
                self.received.append(message)
                if predicate(message):
                    return message

        return await asyncio.wait_for(scan(), wait)

    async def expect_type(self, kind: str, wait: float = 10.0) -> dict[str, Any]:
        return await self.expect(lambda m: m["type"] == kind, wait)


def wings(fleet: StreamFleet, query: str = "") -> Any:
    return fleet.connect("/api/ws", query)


async def in_fleet(fleet: StreamFleet, *names: str) -> None:
    """Wait until the coordinator's live cache knows the containers (connect resolves there)."""

    async def known() -> bool:
        async with api(fleet.coordinator, fleet.token) as client:
            rows = (await client.get("/api/v1/containers")).json()["containers"]
        return set(names) <= {row["name"] for row in rows}

    await eventually(known, what=f"{names} in the fleet")


def is_log(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "log" and m["data"] == text


async def test_connect_logs_commands_and_reconnect(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    first = labelled_container("sh", "-c", "echo written-before-connect; exec sleep 120")
    second = labelled_container("sleep", "120")
    await in_fleet(stream_fleet, first, second)
    async with wings(stream_fleet) as ws:
        client = Wings(ws)
        await client.send({"type": "connect", "server_id": first})
        connected = await client.expect_type("connected")
        assert connected["node_id"] == stream_fleet.node_id
        assert connected["container"]["name"] == first
        assert connected["container"]["state"] == "running"

        docker("exec", first, "sh", "-c", "echo printed-after-connect > /proc/1/fd/1")
        await client.expect(is_log("printed-after-connect"))
        assert not any(m.get("data") == "written-before-connect" for m in client.received)

        command = 'echo "$((6 * 7)) a;b" && echo oops >&2; exit 3'
        await client.send({"type": "command", "command": command})
        output = await client.expect_type("output")
        assert output == {
            "type": "output",
            "command": command,
            "exit_code": 3,
            "stdout": "42 a;b\n",
            "stderr": "oops\n",
            "timed_out": False,
        }
        # A command's own write to the container's main output shows in the log stream too.
        await client.send({"type": "command", "command": "echo via-command > /proc/1/fd/1"})
        await client.expect(is_log("via-command"))

        # Reconnecting (here by node/name) moves the log stream to the other container.
        await client.send({"type": "connect", "server_id": f"{stream_fleet.node_id}/{second}"})
        assert (await client.expect_type("connected"))["container"]["name"] == second
        docker("exec", first, "sh", "-c", "echo old-container > /proc/1/fd/1")
        docker("exec", second, "sh", "-c", "echo new-container > /proc/1/fd/1")
        await client.expect(is_log("new-container"))
        await client.send({"type": "command", "command": "hostname"})
        assert (await client.expect_type("output"))["stdout"].strip() == hostname_of(docker, second)
        assert not any(m.get("data") == "old-container" for m in client.received)

    async with store_of(stream_fleet.coordinator) as store:
        entries = await store.list_audit(action="container.exec")
    commands = [e.params["cmd"] for e in entries if e.params and e.params.get("via")]
    assert ["sh", "-c", command] in commands


def hostname_of(docker: Callable[..., str], name: str) -> str:
    return docker("inspect", "-f", "{{.Config.Hostname}}", name)


async def test_heartbeats_renew_and_silence_expires_the_session(
    stream_fleet: StreamFleet,
) -> None:
    async with wings(stream_fleet, "heartbeat=1") as ws:
        client = Wings(ws)
        started = time.monotonic()
        for beat in range(5):  # 1.2 s of heartbeats: longer than the window
            if beat:
                await asyncio.sleep(0.3)  # the client's own pace
            silent = time.monotonic()
            await client.send({"type": "heartbeat"})
            await client.expect_type("heartbeat_ack")
        assert not any(m["type"] in ("heartbeat_reminder", "expired") for m in client.received)
        assert time.monotonic() - started > 1.0

        reminder = await client.expect(lambda m: m["type"] != "heartbeat_ack", wait=5)
        assert reminder == {"type": "heartbeat_reminder"}
        assert await client.expect(lambda m: True, wait=5) == {"type": "expired"}
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
        assert 0.9 < time.monotonic() - silent < 3.0


async def test_garbage_gets_an_error_and_the_socket_stays_open(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    async with wings(stream_fleet) as ws:
        client = Wings(ws)
        bad: list[dict[str, Any] | str | bytes] = [
            "this is not json",
            "[1, 2]",
            b"\x00\x01binary",
            {"type": "launch-missiles"},
            {"no": "type"},
            {"type": "command", "command": "ls"},  # before any connect
            {"type": "connect", "server_id": "no-such-container"},
            {"type": "connect"},
        ]
        for message in bad:
            await client.send(message)
            error = await client.expect_type("error")
            assert error["message"]
        await client.send({"type": "heartbeat"})
        await client.expect_type("heartbeat_ack")
        name = labelled_container("sleep", "120")
        await in_fleet(stream_fleet, name)
        await client.send({"type": "connect", "server_id": name})
        await client.expect_type("connected")
        await client.send({"type": "command", "command": ""})
        await client.expect_type("error")
        assert all(m["type"] in ("error", "heartbeat_ack", "connected") for m in client.received)


async def test_authentication_and_roles(stream_fleet: StreamFleet) -> None:
    plain = stream_fleet.ws_url("/api/ws")
    async with websockets.connect(plain) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with websockets.connect(f"{plain}?token={stream_fleet.token}") as ws:
        await ws.send(json.dumps({"type": "heartbeat"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "heartbeat_ack"}
    async with websockets.connect(f"{plain}?token={stream_fleet.token}&heartbeat=soon") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400

    async with store_of(stream_fleet.coordinator) as store:
        await store.create_user("lw-viewer", "viewer-password-1", "viewer")
    async with httpx.AsyncClient(base_url=stream_fleet.coordinator.url) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"username": "lw-viewer", "password": "viewer-password-1"}
        )
        viewer_token = login.json()["token"]
    async with websockets.connect(f"{plain}?token={viewer_token}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
