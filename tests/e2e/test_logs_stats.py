"""Logs and stats through the coordinator: real coordinator and node processes, a real engine."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import CoordinatorProcess, NodeProcess, eventually, unique_name

from .conftest import api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e

SAMPLE_FIELDS = (
    "read cpu_percent memory_usage memory_limit memory_percent net_rx net_tx block_read "
    "block_write pids cpu_time memory_total_usage"
)


@dataclass
class StreamFleet:
    """A coordinator and one node shared by the tests of a module."""

    coordinator: CoordinatorProcess
    node: NodeProcess
    token: str

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def ws_url(self, path: str, query: str = "") -> str:
        url = f"ws://127.0.0.1:{self.coordinator.port}{path}"
        return f"{url}?{query}" if query else url

    def container_path(self, ref: str, tail: str = "") -> str:
        return f"/api/v1/nodes/{self.node_id}/containers/{ref}{tail}"

    def connect(self, path: str, query: str = "", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return websockets.connect(
            self.ws_url(path, query), additional_headers=headers, max_size=2**24, **kwargs
        )

    async def active_streams(self) -> dict[str, int]:
        async with api(self.coordinator, self.token) as client:
            response = await client.get(f"/api/v1/nodes/{self.node_id}/streams")
            assert response.status_code == 200, response.text
            channels: dict[str, int] = response.json()["channels"]
            return channels


@asynccontextmanager
async def running_fleet(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[StreamFleet]:
    """A coordinator and one node, for a module-scoped fixture (keeps the modules fast)."""
    work: Path = tmp_path_factory.mktemp("streams")
    with started_coordinator(work / "coordinator") as coordinator:
        node = NodeProcess(
            [coordinator.ws_url],
            unique_name("node"),
            secrets.token_urlsafe(16),
            docker_host=docker_host,
            workdir=work / "node",
        )
        node.workdir.mkdir(parents=True, exist_ok=True)
        try:
            node.start()
            token = coordinator.login()
            async with api(coordinator, token) as client:
                await wait_online(client, node.node_id)
            yield StreamFleet(coordinator, node, token)
        finally:
            node.stop()


@pytest.fixture(scope="module")
async def stream_fleet(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[StreamFleet]:
    """One coordinator and one node for the whole module."""
    async with running_fleet(tmp_path_factory, docker_host) as fleet:
        yield fleet


async def read_lines(ws: Any) -> list[dict[str, str]]:
    """Every line a logs WebSocket sends until it closes (asserting a normal close)."""
    lines: list[dict[str, str]] = []
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            lines.extend(frame.get("lines", [frame]))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1000, closed
    return lines


async def test_200k_lines_arrive_in_order_exactly_once_and_follow_ends(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    # The pause lets the follower attach before the flood starts.
    name = labelled_container("sh", "-c", "sleep 1; seq 1 200000")
    path = stream_fleet.container_path(name, "/logs/ws")
    async with stream_fleet.connect(path, "follow=true") as ws:
        lines = await read_lines(ws)
    assert [entry["line"] for entry in lines] == [str(i) for i in range(1, 200_001)]
    assert {entry["stream"] for entry in lines} == {"stdout"}


async def test_a_slow_reader_still_gets_everything(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    # 30,000 lines of 100+ bytes: several times every window on the way, so the node has to
    # wait for this reader. The container keeps running afterwards: how an engine drains a
    # follow stream of a container that exits is the engine's business (Docker 20.10 at times
    # ends it early for a slow reader; the 200,000-line test covers the exit).
    script = (
        "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); printf '%06d %0100d\\n' $i 0; done; "
        "exec sleep 600"
    )
    name = labelled_container("sh", "-c", script)
    path = stream_fleet.container_path(name, "/logs/ws")
    received: list[str] = []
    async with stream_fleet.connect(path, "follow=true&batch=false", max_queue=4) as ws:
        while len(received) < 30_000:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            received.append(frame["line"])
            if len(received) % 500 == 0:
                await asyncio.sleep(0.01)  # a deliberately slow client
    assert [int(line.split()[0]) for line in received] == list(range(1, 30_001))
    assert all(len(line) == 107 for line in received)


async def test_a_slow_reader_gets_everything_once_when_the_container_exits(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    # Docker 20.10 ended this follow early (10,981 of 30,000 lines, then a normal end): the
    # node resumes after the last timestamp it sent, and then the stream ends normally.
    script = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); printf '%06d %0100d\\n' $i 0; done"
    name = labelled_container("sh", "-c", script)
    path = stream_fleet.container_path(name, "/logs/ws")
    received: list[str] = []
    async with stream_fleet.connect(path, "follow=true&batch=false", max_queue=4) as ws:
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                received.append(frame["line"])
                if len(received) % 500 == 0:
                    await asyncio.sleep(0.01)  # a deliberately slow client
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000, closed
    assert [int(line.split()[0]) for line in received] == list(range(1, 30_001))
    assert all(len(line) == 107 for line in received)


async def test_stdout_and_stderr_are_told_apart(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("sh", "-c", "echo out1; echo err1 >&2; echo out2; printf tail")
    await eventually(lambda: _exited(docker, name), what="the container exited")
    path = stream_fleet.container_path(name, "/logs/ws")
    async with stream_fleet.connect(path) as ws:
        lines = await read_lines(ws)
    by_stream = {(e["stream"], e["line"]) for e in lines}
    expected = {("stdout", "out1"), ("stderr", "err1"), ("stdout", "out2"), ("stdout", "tail")}
    assert by_stream == expected
    async with stream_fleet.connect(path, "stderr=false&batch=false") as ws:
        only_out = await read_lines(ws)
    assert [e["line"] for e in only_out] == ["out1", "out2", "tail"]

    async with api(stream_fleet.coordinator, stream_fleet.token) as client:
        logs = stream_fleet.container_path(name, "/logs")
        text = await client.get(logs)
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("text/plain")
        assert sorted(text.text.splitlines()) == ["err1", "out1", "out2", "tail"]
        ndjson = await client.get(logs, params={"format": "ndjson", "stdout": "false"})
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        assert [json.loads(x) for x in ndjson.text.splitlines()] == [
            {"stream": "stderr", "line": "err1"}
        ]
        tail = await client.get(logs, params={"tail": 1, "stderr": "false"})
        assert tail.text == "tail"
        stamped = await client.get(logs, params={"timestamps": "true", "format": "ndjson"})
        first = json.loads(stamped.text.splitlines()[0])["line"]
        assert first.split(" ", 1)[0].startswith("20") and first.endswith(("out1", "err1"))


async def _exited(docker: Callable[..., str], name: str) -> bool:
    return docker("inspect", "-f", "{{.State.Status}}", name) == "exited"


async def test_http_follow_streams_and_closing_the_client_closes_the_node_stream(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container(
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done"
    )
    await eventually(_no_log_streams(stream_fleet), what="no logs stream open at the start")
    async with (
        api(stream_fleet.coordinator, stream_fleet.token) as client,
        client.stream(
            "GET",
            stream_fleet.container_path(name, "/logs"),
            params={"follow": "true", "format": "ndjson"},
            timeout=30,
        ) as response,
    ):
        assert response.status_code == 200
        # Keep the iterator referenced: a dropped one would close the response at once.
        lines = response.aiter_lines()
        seen = [int(json.loads(await anext(lines))["line"]) for _ in range(3)]
        assert seen == [1, 2, 3]
        assert (await stream_fleet.active_streams())["logs"] == 1
    await eventually(_no_log_streams(stream_fleet), what="the node closed the logs stream")


def _no_log_streams(stream_fleet: StreamFleet) -> Callable[[], Any]:
    async def probe() -> bool:
        return (await stream_fleet.active_streams())["logs"] == 0

    return probe


async def test_closing_a_logs_websocket_closes_the_node_stream(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "60")
    async with stream_fleet.connect(stream_fleet.container_path(name, "/logs/ws"), "follow=1"):
        await eventually(
            lambda: _streams_equal(stream_fleet, "logs", 1), what="the logs stream is open"
        )
    await eventually(_no_log_streams(stream_fleet), what="the node closed the logs stream")


async def _streams_equal(stream_fleet: StreamFleet, kind: str, count: int) -> bool:
    return (await stream_fleet.active_streams())[kind] == count


async def test_stats_one_sample_and_a_live_stream_until_the_container_stops(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "60")
    async with api(stream_fleet.coordinator, stream_fleet.token) as client:
        response = await client.get(stream_fleet.container_path(name, "/stats"))
        assert response.status_code == 200, response.text
        sample = response.json()
        assert set(sample) == set(SAMPLE_FIELDS.split())
        assert sample["pids"] >= 1 and sample["memory_usage"] > 0
        assert sample["read"].endswith("Z")

    async with stream_fleet.connect(stream_fleet.container_path(name, "/stats/ws")) as ws:
        samples = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
        assert samples[0]["read"] < samples[1]["read"]
        assert all(s["pids"] >= 1 for s in samples)
        docker("stop", "-t", "0", name)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000

    async with api(stream_fleet.coordinator, stream_fleet.token) as client:
        stopped = await client.get(stream_fleet.container_path(name, "/stats"))
        assert stopped.status_code == 409, stopped.text
        assert stopped.json()["error"]["code"] == "conflict"
    async with stream_fleet.connect(stream_fleet.container_path(name, "/stats/ws")) as ws:
        with pytest.raises(ConnectionClosed) as refused:
            await asyncio.wait_for(ws.recv(), 10)
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 4409


async def test_bad_requests_get_clear_errors(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "60")
    logs = stream_fleet.container_path(name, "/logs")
    async with api(stream_fleet.coordinator, stream_fleet.token) as client:
        cases = {
            stream_fleet.container_path("no-such-container", "/logs"): 404,
            f"/api/v1/nodes/no-such-node/containers/{name}/logs": 404,
            f"{logs}?tail=-1": 422,
            f"{logs}?tail=many": 422,
            f"{logs}?since=yesterday": 422,
            f"{logs}?format=xml": 422,
            f"{logs}?stdout=false&stderr=false": 422,
            stream_fleet.container_path("no-such-container", "/stats"): 404,
        }
        for url, status in cases.items():
            response = await client.get(url)
            assert response.status_code == status, (url, response.text)
            assert "error" in response.json()
        bad_tail = (await client.get(f"{logs}?tail=-1")).json()["error"]
        assert bad_tail["fields"][0]["field"] == "query.tail"
        ok = await client.get(f"{logs}?since=10m&until=2099-01-01T00:00:00Z")
        assert ok.status_code == 200

    async with httpx.AsyncClient(base_url=stream_fleet.coordinator.url) as anonymous:
        assert (await anonymous.get(logs)).status_code == 401
    for query, code in (("tail=-1", 4400), ("", 4404)):
        ref = name if query else "no-such-container"
        async with stream_fleet.connect(stream_fleet.container_path(ref, "/logs/ws"), query) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    url = stream_fleet.ws_url(stream_fleet.container_path(name, "/logs/ws"))
    async with websockets.connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with websockets.connect(f"{url}?token={stream_fleet.token}&tail=1") as ws:
        assert await read_lines(ws) == []  # no output yet, no follow: a clean, empty end


async def test_revoking_the_token_closes_a_live_stream_at_once(
    stream_fleet: StreamFleet, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "120")
    async with api(stream_fleet.coordinator, stream_fleet.token) as client:
        created = await client.post("/api/v1/tokens", json={"name": unique_name("logs")})
        assert created.status_code == 201, created.text
        token, token_id = created.json()["token"], created.json()["id"]
        path = stream_fleet.container_path(name, "/logs/ws")
        async with websockets.connect(stream_fleet.ws_url(path, f"follow=1&token={token}")) as ws:
            await eventually(
                lambda: _streams_equal(stream_fleet, "logs", 1), what="the logs stream is open"
            )
            assert (await client.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 1)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    await eventually(_no_log_streams(stream_fleet), what="the node closed the logs stream")
