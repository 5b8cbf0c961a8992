"""Logs across restarts, downloads and merged logs: real coordinator and node processes,
a real engine (two node processes on it, so that a merge spans nodes)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import CoordinatorProcess, NodeProcess, unique_name

from .conftest import api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e

# Each run prints the next three numbers (the count survives a restart in the container's
# file system) in one burst, then idles.
COUNTER = (
    'n=$(cat /n 2>/dev/null || echo 0); for i in 1 2 3; do n=$((n+1)); echo "$n"; done;'
    " echo $n > /n; exec sleep 600"
)


@dataclass
class TwoNodes:
    """A coordinator and two node processes (on the same engine) for the module."""

    coordinator: CoordinatorProcess
    nodes: tuple[NodeProcess, NodeProcess]
    token: str

    def connect(self, path: str, query: str = "") -> Any:
        url = f"ws://127.0.0.1:{self.coordinator.port}{path}" + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {self.token}"}
        return websockets.connect(url, additional_headers=headers, max_size=2**24)

    def logs_path(self, ref: str, tail: str = "/logs", node: int = 0) -> str:
        return f"/api/v1/nodes/{self.nodes[node].node_id}/containers/{ref}{tail}"


@pytest.fixture(scope="module")
async def two_nodes(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[TwoNodes]:
    work: Path = tmp_path_factory.mktemp("logs-follow")
    with started_coordinator(work / "coordinator") as coordinator:
        nodes = tuple(
            NodeProcess(
                [coordinator.ws_url],
                unique_name("node"),
                secrets.token_urlsafe(16),
                docker_host=docker_host,
                workdir=work / f"node{i}",
            )
            for i in range(2)
        )
        try:
            for node in nodes:
                node.workdir.mkdir(parents=True, exist_ok=True)
                node.start()
            token = coordinator.login()
            async with api(coordinator, token) as client:
                await wait_online(client, *(n.node_id for n in nodes))
            yield TwoNodes(coordinator, (nodes[0], nodes[1]), token)
        finally:
            for node in nodes:
                node.stop()


class Frames:
    """The frames of a logs WebSocket, read as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.lines: list[dict[str, str]] = []
        self.end: str | None = None

    async def until_lines(self, count: int) -> list[str]:
        while len(self.lines) < count:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            assert "end" not in frame, frame
            self.lines.extend(frame.get("lines", [frame]))
        return [entry["line"] for entry in self.lines]

    async def until_closed(self) -> None:
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                if "end" in frame:
                    self.end = frame["end"]
                else:
                    self.lines.extend(frame.get("lines", [frame]))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000, closed


async def test_follow_restarts_carries_on_across_restart_and_stop_start_exactly_once(
    two_nodes: TwoNodes, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("sh", "-c", COUNTER)
    path = two_nodes.logs_path(name, "/logs/ws")
    async with two_nodes.connect(path, "follow_restarts=true&tail=all") as ws:
        frames = Frames(ws)
        assert await frames.until_lines(3) == ["1", "2", "3"]
        docker("restart", "-t", "0", name)
        assert await frames.until_lines(6) == [str(i) for i in range(1, 7)]
        docker("stop", "-t", "0", name)
        docker("start", name)
        assert await frames.until_lines(9) == [str(i) for i in range(1, 10)]
        docker("rm", "-f", name)
        await frames.until_closed()
    assert [entry["line"] for entry in frames.lines] == [str(i) for i in range(1, 10)]
    assert frames.end == "removed"
