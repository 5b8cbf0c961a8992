"""Stats (one-shot and streaming) and engine events, including the engine going away."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import pytest

from docklord.engine import Engine
from docklord.engine._streams import engine_event, stats_sample
from docklord.errors import Conflict, EngineUnavailable
from docklord.model import EngineEvent, StatsSample
from docklord.testing import TEST_LABEL, TEST_RUN, unique_name

from ._support import MakeContainer

BUSY = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]


async def test_stats_once_measures_a_busy_container(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(BUSY, memory=128 * 1024 * 1024)
    sample = await engine.stats_once(ref)
    assert sample.read == pytest.approx(time.time(), abs=30)
    assert sample.cpu_percent > 10.0  # a busy loop uses most of a core
    assert 0 < sample.memory_usage < sample.memory_limit == 128 * 1024 * 1024
    assert sample.memory_percent == pytest.approx(sample.memory_usage / sample.memory_limit * 100)
    assert sample.pids >= 1 and sample.net_rx >= 0 and sample.block_read >= 0
    await engine.stop(ref)
    with pytest.raises(Conflict, match="not running"):
        await engine.stats_once(ref)


async def test_stats_stream_ends_when_the_container_stops(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(BUSY)
    samples: list[StatsSample] = []
    async with asyncio.timeout(20):
        async for sample in engine.stats(ref):
            samples.append(sample)
            if len(samples) == 2:
                await engine.kill(ref)
    assert len(samples) >= 2
    assert samples[1].read > samples[0].read
    assert samples[-1].cpu_percent > 10.0
    assert [s async for s in engine.stats(ref)] == []  # not running: an empty stream


def test_stats_sample_computes_like_the_cli() -> None:
    doc = {
        "read": "2024-01-01T00:00:01.5Z",
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000_000},
            "system_cpu_usage": 20_000_000_000,
            "online_cpus": 4,
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 1_000_000_000},
            "system_cpu_usage": 10_000_000_000,
        },
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}},
        "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 7}, "eth1": {"rx_bytes": 1}},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "Read", "value": 10},
                {"op": "write", "value": 20},
                {"op": "Total", "value": 30},
            ]
        },
        "pids_stats": {"current": 3},
    }
    assert stats_sample(doc) == StatsSample(
        read=1704067201.5,
        cpu_percent=80.0,
        memory_usage=800,
        memory_limit=4000,
        memory_percent=20.0,
        net_rx=6,
        net_tx=7,
        block_read=10,
        block_write=20,
        pids=3,
        cpu_time=3.0,
        memory_total_usage=1000,
    )
    assert stats_sample({"read": "0001-01-01T00:00:00Z"}) is None


async def test_events_report_a_die_with_its_exit_code(
    engine: Engine, make_container: MakeContainer
) -> None:
    marker = unique_name("ev")
    since = time.time() - 1
    filters = {"type": ["container"], "label": [f"docklord.test.events={marker}"]}
    ref = await make_container(["sh", "-c", "exit 3"], labels={"docklord.test.events": marker})
    seen: list[EngineEvent] = []
    async with asyncio.timeout(20), aclosing(engine.events(since=since, filters=filters)) as events:
        async for event in events:
            seen.append(event)
            if event.action == "die":
                break
    assert [e.action for e in seen][:3] == ["create", "start", "die"]
    die = seen[-1]
    assert (die.type, die.actor_id, die.scope) == ("container", ref, "local")
    assert die.attributes["exitCode"] == "3"
    assert die.attributes[TEST_LABEL] == TEST_RUN
    assert die.time_nano / 1e9 == pytest.approx(time.time(), abs=30)


async def test_exec_events_keep_the_detail(engine: Engine, make_container: MakeContainer) -> None:
    ref = await make_container()
    since = time.time() - 1
    await engine.exec_run(ref, ["echo", "hello"])
    filters = {"container": [ref], "event": ["exec_start"]}
    async with asyncio.timeout(20), aclosing(engine.events(since=since, filters=filters)) as events:
        event = await anext(events)
    assert event.action == "exec_start"
    assert event.attributes["action_detail"] == "exec_start: echo hello"


def test_event_from_engine_json() -> None:
    event = engine_event(
        {
            "Type": "container",
            "Action": "health_status: healthy",
            "Actor": {"ID": "abc", "Attributes": {"name": "web"}},
            "scope": "local",
            "timeNano": 1700000000123456789,
            "status": "deprecated",
            "id": "deprecated",
        }
    )
    assert event == EngineEvent(
        type="container",
        action="health_status",
        actor_id="abc",
        attributes={"name": "web", "action_detail": "health_status: healthy"},
        time_nano=1700000000123456789,
        scope="local",
    )


async def test_events_raise_when_the_engine_goes_away(tmp_path: Path) -> None:
    event = {"Type": "container", "Action": "start", "Actor": {"ID": "c1"}, "timeNano": 1}
    received: list[EngineEvent] = []
    async with _engine_that_dies_after(tmp_path / "fake.sock", event) as address:
        engine = Engine(address)
        try:
            assert (await engine.connect()).version == "fake"
            with pytest.raises(EngineUnavailable, match=f"at {address}"):
                async for item in engine.events():
                    received.append(item)
        finally:
            await engine.aclose()
    assert [e.actor_id for e in received] == ["c1"]


@asynccontextmanager
async def _engine_that_dies_after(path: Path, event: dict[str, object]) -> AsyncIterator[str]:
    """A unix socket that answers like an engine, then drops the event stream mid-way."""
    version = {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "fake", "Os": "linux"}
    documents = {b"/version": version, b"/v1.41/info": {"Name": "fake"}}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await reader.readuntil(b"\r\n\r\n"):
            target = request.split(b" ")[1].split(b"?")[0]
            if target in documents:
                body = json.dumps(documents[target]).encode()
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                continue
            line = json.dumps(event).encode() + b"\n"
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n")
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
            writer.transport.abort()  # the engine crashed: no final chunk
            return

    server = await asyncio.start_unix_server(serve, str(path))
    try:
        yield f"unix://{path}"
    finally:
        server.close()
        await server.wait_closed()
