"""Logs across restarts, downloads and merged logs: real coordinator and node processes,
a real engine (two node processes on it, so that a merge spans nodes)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import CoordinatorProcess, NodeProcess, eventually, unique_name
from docklord.web._merged_logs import split_line

from .conftest import api, started_coordinator, wait_online
from .test_identity import make_user

pytestmark = pytest.mark.e2e

# Each run prints the next three numbers (the count survives a restart in the container's
# file system) in one burst, then a 40,000-character line, then idles. The engine stores that
# line as three messages with ONE timestamp (its log copier cuts at 16 KiB and stamps every
# part with the first part's time), so the last timestamp before each stop is shared by three
# messages: the resumed read returns all three again and exactly those must be skipped.
COUNTER = (
    'n=$(cat /n 2>/dev/null || echo 0); for i in 1 2 3; do n=$((n+1)); echo "$n"; done;'
    ' echo $n > /n; echo "L$n-$(head -c 40000 /dev/zero | tr "\\0" x)"; exec sleep 600'
)


def counted(runs: int) -> list[str]:
    """What ``runs`` runs of COUNTER print."""
    lines = []
    for run in range(runs):
        lines += [str(3 * run + i) for i in (1, 2, 3)] + [f"L{3 * run + 3}-" + "x" * 40_000]
    return lines


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
        assert await frames.until_lines(4) == counted(1)
        docker("restart", "-t", "0", name)
        assert await frames.until_lines(8) == counted(2)
        docker("stop", "-t", "0", name)
        docker("start", name)
        assert await frames.until_lines(12) == counted(3)
        docker("rm", "-f", name)
        await frames.until_closed()
    assert [entry["line"] for entry in frames.lines] == counted(3)
    assert frames.end == "removed"


async def exited(docker: Callable[..., str], name: str) -> None:
    async def done() -> bool:
        return docker("inspect", "-f", "{{.State.Status}}", name) == "exited"

    await eventually(done, timeout=30, what=f"{name} exited")


async def test_download_applies_the_filters_and_refuses_bad_ones(
    two_nodes: TwoNodes, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container(
        "sh", "-c", 'for i in $(seq 1 30); do echo "out $i"; echo "err $i" >&2; done'
    )
    await exited(docker, name)
    path = two_nodes.logs_path(name, "/logs/download")
    pattern = r"^err [12]\d?$"
    async with api(two_nodes.coordinator, two_nodes.token) as client:
        response = await client.get(path, params={"stdout": "false", "match": pattern})
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"] == f'attachment; filename="{name}.log"'
        expected = [f"err {i}" for i in range(1, 31) if re.search(pattern, f"err {i}")]
        assert response.text.splitlines() == expected
        # With timestamps the pattern is searched in the text after the timestamp.
        stamped = await client.get(path, params={"timestamps": "true", "match": "^out 7$"})
        (line,) = stamped.text.splitlines()
        assert line.endswith(" out 7") and split_line(line) == (line[:30], "out 7")
        for params in ({"match": "("}, {"match": "x" * 1001}, {"tail": "-1"}):
            refused = await client.get(path, params=params)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "invalid_input", refused.text
        missing = await client.get(two_nodes.logs_path(unique_name("gone"), "/logs/download"))
        assert missing.status_code == 404, missing.text


async def test_download_of_200k_lines_is_complete(
    two_nodes: TwoNodes, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("seq", "1", "200000")
    await exited(docker, name)
    async with (
        api(two_nodes.coordinator, two_nodes.token) as client,
        client.stream("GET", two_nodes.logs_path(name, "/logs/download")) as response,
    ):
        assert response.status_code == 200
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert body.decode().splitlines() == [str(i) for i in range(1, 200_001)]
        last = await client.get(two_nodes.logs_path(name, "/logs/download"), params={"tail": 3})
        assert last.text == "199998\n199999\n200000\n"


async def test_merged_logs_of_two_nodes_interleave_by_time_and_follow(
    two_nodes: TwoNodes, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    script = 'for i in 1 2 3 4 5 6; do echo "{0}$i"; sleep 0.2; done; exec sleep 600'
    first = labelled_container("sh", "-c", script.format("a"), start=False)
    second = labelled_container("sh", "-c", script.format("b"), start=False)
    docker("start", first, second)  # one call: they start a moment apart and overlap
    a, b = (f"{n.node_id}/{c}" for n, c in zip(two_nodes.nodes, (first, second), strict=True))

    async def printed() -> bool:
        return len(docker("logs", second).splitlines()) == 6

    await eventually(printed, timeout=30, what="both containers printed")
    query = f"container={a}&container={b}&tail=100&follow_restarts=true"
    async with two_nodes.connect("/api/v1/logs/ws", query) as ws:
        merged: list[dict[str, str]] = []
        while len(merged) < 12:
            merged.extend(json.loads(await asyncio.wait_for(ws.recv(), 30))["lines"])
        docker("restart", "-t", "0", first)  # a live line: a1 again, after the tail
        merged.extend(json.loads(await asyncio.wait_for(ws.recv(), 30))["lines"])
    tail = merged[:12]
    assert [e["time"] for e in tail] == sorted(e["time"] for e in tail)
    assert {(e["node"], e["container"]) for e in tail} == {
        (two_nodes.nodes[0].node_id, a),
        (two_nodes.nodes[1].node_id, b),
    }
    order = "".join(e["line"][0] for e in tail)
    assert order.count("ab") + order.count("ba") >= 3, order  # interleaved, not one then other
    assert [e["line"] for e in tail if e["line"][0] == "a"] == [f"a{i}" for i in range(1, 7)]
    assert merged[12]["line"] == "a1" and merged[12]["time"] > tail[-1]["time"]


async def test_merged_logs_refuse_bad_requests_and_authorize_each_container(
    two_nodes: TwoNodes, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sh", "-c", "echo hello; exec sleep 600")
    # An instance's container (by its reserved name) is not there for anyone but an admin.
    instance = labelled_container(
        "echo", "secret", name=f"docklord-instance-{secrets.token_hex(6)}"
    )
    node = two_nodes.nodes[0].node_id
    async with api(two_nodes.coordinator, two_nodes.token) as admin:
        user, password = await make_user(admin, "viewer")
        viewer = two_nodes.coordinator.login(user["username"], password)
        for params, status in (
            ({"container": [f"{node}/{name}"] * 21}, 422),
            ({"container": "no-slash"}, 422),
            ({}, 422),
            ({"container": f"{node}/{name}", "tail": "all"}, 422),
            ({"container": f"{node}/{unique_name('gone')}"}, 404),
            ({"container": f"{unique_name('node')}/{name}"}, 404),
        ):
            refused = await admin.get("/api/v1/logs", params=params)
            assert refused.status_code == status, (params, refused.text)
        async with api(two_nodes.coordinator, viewer) as client:
            params = {"container": f"{node}/{name}", "follow": "false"}
            response = await client.get("/api/v1/logs", params=params)
            assert response.status_code == 200, response.text
            (entry,) = [json.loads(line) for line in response.text.splitlines()]
            assert (entry["container"], entry["line"]) == (f"{node}/{name}", "hello")
            viewer_path = two_nodes.logs_path(name, "/logs/download")
            assert (await client.get(viewer_path)).text == "hello\n"
            both = {"container": [f"{node}/{name}", f"{node}/{instance}"], "follow": "false"}
            hidden = await client.get("/api/v1/logs", params=both)
            assert hidden.status_code == 404, hidden.text
            assert instance in hidden.json()["error"]["message"]
            download = await client.get(two_nodes.logs_path(instance, "/logs/download"))
            assert download.status_code == 404, download.text
        shown = await admin.get("/api/v1/logs", params={**both, "tail": "5"})
        assert shown.status_code == 200, shown.text
        assert {json.loads(line)["line"] for line in shown.text.splitlines()} == {"hello", "secret"}
    for query, code in ((f"container={node}/{name}&" * 21, 4400), ("container=x/y", 4404)):
        async with two_nodes.connect("/api/v1/logs/ws", query) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code
