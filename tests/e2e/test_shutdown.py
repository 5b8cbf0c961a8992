"""SIGTERM: a node and a coordinator drain what is in flight, close cleanly and exit 0."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, NodeProcess, eventually

from .conftest import NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e

#: A one-shot exec that is still running when the signal arrives.
SLOW = {"cmd": ["sh", "-c", "sleep 2; echo finished"]}


async def _start_slow_exec(
    client: httpx.AsyncClient, docker: Callable[..., str], node_id: str, name: str
) -> asyncio.Task[httpx.Response]:
    url = f"/api/v1/nodes/{node_id}/containers/{name}/exec"
    call = asyncio.create_task(client.post(url, json=SLOW, timeout=30))

    async def running() -> bool:
        assert not call.done(), call.result().text
        return "sleep 2" in docker("top", name)

    await eventually(running, what="the exec running in the container")
    return call


async def _exited(proc: Any, timeout: float = 20.0) -> int:  # noqa: ASYNC109
    async def gone() -> bool:
        return proc.poll() is not None

    await eventually(gone, timeout=timeout, what="the process to exit")
    code: int = proc.returncode
    return code


async def test_sigterm_drains_requests_closes_links_cleanly_and_exits_0(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
    docker: Callable[..., str],
) -> None:
    # One coordinator for both halves: starting one costs seconds on a busy machine.
    node = start_node([coordinator.ws_url])
    name = labelled_container("sleep", "60")
    token = coordinator.login()
    await _node_half(coordinator, node, token, name, docker)
    node.start()
    await _coordinator_half(coordinator, node, token, name, docker)


async def _node_half(
    coordinator: CoordinatorProcess,
    node: NodeProcess,
    token: str,
    name: str,
    docker: Callable[..., str],
) -> None:
    """SIGTERM to a node mid-request: the request completes, the coordinator sees a normal
    close at once, the node exits 0."""
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        call = await _start_slow_exec(client, docker, node.node_id, name)
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        answer = await call
        answered = time.monotonic()
        assert answer.status_code == 200, answer.text
        assert answer.json()["stdout"] == "finished\n"

        async def offline() -> bool:
            got = (await client.get(f"/api/v1/nodes/{node.node_id}")).json()
            return got["status"] == "offline"

        await eventually(offline, interval=0.02, what="the node offline")
        offline_after = time.monotonic() - answered
        assert await _exited(node.proc) == 0, node.log()
    print(f"node offline {offline_after:.3f} s after its drained request was answered")
    # Well under the 5 s a silent link takes to be declared dead.
    assert offline_after < 2.0
    assert "link drained" in node.log()
    lost = [line for line in coordinator.log().splitlines() if "node link lost" in line]
    assert any(node.node_id in line and "code 1000" in line for line in lost), lost


async def _coordinator_half(
    coordinator: CoordinatorProcess,
    node: NodeProcess,
    token: str,
    name: str,
    docker: Callable[..., str],
) -> None:
    """SIGTERM to a coordinator: client WebSockets get 1001 at once, the request in flight
    completes (its node link stays up meanwhile), the node link closes normally, exit 0."""
    events = await websockets.connect(
        f"{coordinator.ws_url}/api/v1/events/ws",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        await asyncio.wait_for(events.recv(), 10)  # the snapshot
        call = await _start_slow_exec(client, docker, node.node_id, name)
        assert coordinator.proc is not None
        signalled = time.monotonic()
        coordinator.proc.send_signal(signal.SIGTERM)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(events.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert not call.done(), "the client socket closes at once, before requests drain"
        answer = await call
        assert answer.status_code == 200, answer.text
        assert answer.json()["stdout"] == "finished\n"
        assert await _exited(coordinator.proc) == 0, coordinator.log()[-5000:]
    print(f"coordinator exited {time.monotonic() - signalled:.3f} s after SIGTERM")
    stopped = re.search(r"http server stopped.*", coordinator.log())
    assert stopped is not None and "connections_cut_off=0" in stopped.group(0)
    assert "CancelledError" not in coordinator.log()

    async def link_closed() -> bool:
        return bool(re.search(r"link down.*code 1000", node.log()))

    await eventually(link_closed, what="the node to see a normal close of its link")
