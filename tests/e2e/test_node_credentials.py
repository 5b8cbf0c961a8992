"""Node credentials: the documented Docklord requests, rejections, no take-over, no leaks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, eventually

from .conftest import NodeFactory, api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e


def exit_code(node: object, timeout: float = 10.0) -> int | None:
    proc = node.proc  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.poll()  # type: ignore[no-any-return]


async def test_documented_requests_work_as_written(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
) -> None:
    node = start_node([coordinator.ws_url])
    async with api(coordinator, coordinator.login()) as client:
        await wait_online(client, node.node_id)
    name = labelled_container("sleep", "30")
    query = f"node_id={node.node_id}&password={node.password}"
    async with httpx.AsyncClient(timeout=10) as client:

        async def listed() -> bool:
            response = await client.get(f"{coordinator.url}/api/containers?{query}")
            assert response.status_code == 200, response.text
            names = {c["name"]: c["state"] for c in response.json()["containers"]}
            return names.get(name) == "running"

        await eventually(listed, what="container in /api/containers")

    url = f"ws://127.0.0.1:{coordinator.port}/observe-containers?{query}"
    async with websockets.connect(url, max_size=2**24) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert {c["name"]: c["state"] for c in first["containers"]}[name] == "running"
        stopped = labelled_container("sh", "-c", "exit 2")

        async def shows_exited() -> bool:
            update = json.loads(await asyncio.wait_for(ws.recv(), 5))
            states = {c["name"]: (c["state"], c["exit_code"]) for c in update["containers"]}
            return states.get(stopped) == ("exited", 2)

        await eventually(shows_exited, what="observer sees the exit")

    logs = coordinator.log() + node.log()
    assert node.password not in logs
    assert "password=***" in coordinator.log()


async def test_wrong_password_is_rejected_at_once_everywhere(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    node = start_node([coordinator.ws_url])
    async with api(coordinator, coordinator.login()) as client:
        await wait_online(client, node.node_id)

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{coordinator.url}/api/containers",
            params={"node_id": node.node_id, "password": "wrong"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert time.monotonic() - started < 1.0

    url = f"ws://127.0.0.1:{coordinator.port}/observe-containers?node_id={node.node_id}&password=x"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    impostor = start_node([coordinator.ws_url], node_id=node.node_id, password="not-the-secret")
    assert exit_code(impostor) == 3
    assert "rejected" in impostor.log() and "invalid node_id or password" in impostor.log()
    async with api(coordinator, coordinator.login()) as client:
        info = (await client.get(f"/api/v1/nodes/{node.node_id}")).json()
        assert info["status"] == "online", "the real node must keep its link"


async def test_grpc_link_rejects_wrong_password(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    node = start_node([coordinator.grpc_url])
    async with api(coordinator, coordinator.login()) as client:
        await wait_online(client, node.node_id)
    impostor = start_node([coordinator.grpc_url], node_id=node.node_id, password="nope")
    assert exit_code(impostor) == 3
    assert "invalid node_id or password" in impostor.log()


async def test_enroll_registration_refuses_unknown_nodes(
    tmp_path: Path, start_node: NodeFactory
) -> None:
    with started_coordinator(tmp_path / "enroll", registration="enroll") as coordinator:
        stranger = start_node([coordinator.ws_url])
        assert exit_code(stranger) == 3
        assert "unknown node" in stranger.log()


async def test_revoking_a_node_closes_its_observers(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        query = f"node_id={node.node_id}&password={node.password}"
        url = f"ws://127.0.0.1:{coordinator.port}/observe-containers?{query}"
        async with websockets.connect(url, max_size=2**24) as ws:
            await asyncio.wait_for(ws.recv(), 5)
            revoked = await client.delete(f"/api/v1/nodes/{node.node_id}")
            assert revoked.status_code == 200, revoked.text
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert time.monotonic() - started < 1.0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with httpx.AsyncClient(timeout=10) as anonymous:
        again = await anonymous.get(f"{coordinator.url}/api/containers?{query}")
    assert again.status_code == 401
