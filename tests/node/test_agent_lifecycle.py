"""The node agent's link settings and shutdown, in-process against a scripted coordinator end.

The agent runs for real (watcher, sampler, link) over an in-memory link, with an engine that
cannot be reached: the link behaviour under test needs no containers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docklord.config import NodeConfig
from docklord.engine import Engine
from docklord.errors import LinkClosed
from docklord.link import LinkSettings, Transport, memory_pair
from docklord.model import EngineInfo
from docklord.node import NodeAgent
from docklord.protocol import PROTOCOL_VERSION, dump_json, load_json
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import eventually

NOWHERE = "unix:///nonexistent/docker.sock"
INFO = EngineInfo("27.0", "1.46", "1.24", "linux", "x86_64", "6.1", "test", 0, 0)


class _SlowInfoEngine(Engine):
    """``engine.info`` answers only once ``release`` is set (a request kept in flight)."""

    def __init__(self) -> None:
        super().__init__(NOWHERE)
        self.release = asyncio.Event()

    async def info(self) -> EngineInfo:
        await self.release.wait()
        return INFO


class _Coordinator:
    """The coordinator's end of the link, frame by frame: answers pings, records them."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.pings: list[float] = []
        self.responses: dict[int, pb.Response] = {}
        self.closed = asyncio.Event()

    async def handshake(self, ping_interval_ms: int) -> pb.Hello:
        first = await self.transport.receive()
        welcome = pb.Welcome(
            coordinator_id="test",
            protocol_version=PROTOCOL_VERSION,
            ping_interval_ms=ping_interval_ms,
        )
        await self.transport.send(pb.Envelope(welcome=welcome))
        return first.hello

    async def read(self) -> None:
        try:
            while True:
                env = await self.transport.receive()
                frames = env.batch.envelopes if env.HasField("batch") else [env]
                for frame in frames:
                    await self._on(frame)
        except LinkClosed:
            self.closed.set()

    async def _on(self, frame: pb.Envelope) -> None:
        if frame.HasField("ping"):
            self.pings.append(time.monotonic())
            await self.transport.send(pb.Envelope(pong=pb.Pong(nonce=frame.ping.nonce)))
        elif frame.HasField("response"):
            self.responses[frame.request_id] = frame.response

    async def request(self, request_id: int, method: str) -> None:
        call = pb.Request(method=method, args=dump_json({}), timeout_ms=30_000)
        await self.transport.send(pb.Envelope(request_id=request_id, request=call))


@dataclass
class Linked:
    agent: NodeAgent
    coordinator: _Coordinator
    engine: _SlowInfoEngine
    run: asyncio.Task[None]


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[Linked]:
    node_end, coordinator_end = memory_pair()

    async def connect(url: str) -> Transport:
        return node_end

    engine = _SlowInfoEngine()
    config = NodeConfig(node_id="node-life", password="x" * 24, state_dir=str(tmp_path))
    agent = NodeAgent(config, engine=engine, connect=connect)
    coordinator = _Coordinator(coordinator_end)
    run = asyncio.create_task(agent.run())
    reader: asyncio.Task[None] | None = None
    try:
        hello = await coordinator.handshake(ping_interval_ms=200)
        assert hello.node_id == "node-life"
        reader = asyncio.create_task(coordinator.read())
        await asyncio.wait_for(agent.connected.wait(), 5)
        yield Linked(agent, coordinator, engine, run)
    finally:
        engine.release.set()
        run.cancel()
        tasks = [run] + ([reader] if reader else [])
        await asyncio.gather(*tasks, return_exceptions=True)
        await coordinator_end.close()


async def test_the_node_pings_at_the_interval_its_welcome_names(linked: Linked) -> None:
    agent, coordinator = linked.agent, linked.coordinator

    async def five_pings() -> bool:
        return len(coordinator.pings) >= 5

    # At the default 2 s interval five pings would take 8 s: the wait below would time out.
    await eventually(five_pings, timeout=4, what="five pings from the node")
    gaps = [b - a for a, b in zip(coordinator.pings[1:], coordinator.pings[2:], strict=False)]
    assert all(0.1 < gap < 1.0 for gap in gaps), gaps
    assert agent.session is not None
    assert agent.session.settings == LinkSettings(ping_interval=0.2, dead_after=0.5)


def test_welcome_without_an_interval_keeps_the_defaults() -> None:
    assert LinkSettings.for_ping_interval_ms(0) == LinkSettings()
    assert LinkSettings.for_ping_interval_ms(4000) == LinkSettings(ping_interval=4, dead_after=10)


async def test_shutdown_drains_the_request_in_flight_then_closes_the_link(linked: Linked) -> None:
    agent, coordinator, engine, run = linked.agent, linked.coordinator, linked.engine, linked.run
    await coordinator.request(1, "engine.info")
    await eventually(
        lambda: _true(agent.session is not None and agent.session.serving_requests == 1),
        what="the request being served",
    )
    agent.shutdown(grace=10)
    await coordinator.request(2, "ping")

    async def refused() -> pb.Response | None:
        return coordinator.responses.get(2)

    answer = await eventually(refused, what="the answer to a request sent during the drain")
    assert answer.error.code == "link_error" and "shutting down" in answer.error.message
    assert not coordinator.closed.is_set() and not run.done()

    engine.release.set()
    await asyncio.wait_for(asyncio.shield(run), 5)
    assert run.exception() is None
    assert load_json(coordinator.responses[1].result)["version"] == "27.0"
    await asyncio.wait_for(coordinator.closed.wait(), 5)


async def _true(value: bool) -> bool:
    return value
