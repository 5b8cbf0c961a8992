"""Garbage on the node link, before any login, costs the coordinator nothing that shows.

A real coordinator process; bad first frames over WebSocket and gRPC each get a typed Reject
and a close, and leave no traceback in its log. A flood of garbage from several clients does
not slow the API down nor knock a linked node offline.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
import grpc.aio
import httpx
import pytest
import websockets

from docklord import __version__
from docklord.protocol import PROTOCOL_VERSION, Envelope, Hello, decode, encode
from docklord.testing import CoordinatorProcess, SimulatedNode

from .conftest import api, wait_online

pytestmark = pytest.mark.e2e

GOOD_HELLO = encode(
    Envelope(
        hello=Hello(
            node_id="n1",
            proof="p" * 43,
            agent_version=__version__,
            protocol_version=PROTOCOL_VERSION,
        )
    )
)
BAD_FIRST_FRAMES: dict[str, bytes | str] = {
    "random bytes": b"\x0a\xff\xff\xff\xff\x0f" + os.urandom(58),
    "a text frame": "hello, coordinator",
    "truncated protobuf": GOOD_HELLO[:9],
    "a bad node id": encode(
        Envelope(hello=Hello(node_id="bad id!", proof="p" * 43, protocol_version=PROTOCOL_VERSION))
    ),
}


async def _ws_reject(coordinator: CoordinatorProcess, frame: bytes | str) -> str:
    async with websockets.connect(f"{coordinator.ws_url}/api/v1/link") as ws:
        await ws.send(frame)
        reply = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(reply, bytes)
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 10)
    env = decode(reply)
    assert env.WhichOneof("body") == "reject"
    return env.reject.reason


async def _grpc_reject(coordinator: CoordinatorProcess, frame: bytes) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{coordinator.grpc_port}") as channel:
        call = channel.stream_stream(
            "/docklord.link.v1.Link/Connect",
            request_serializer=lambda b: b,
            response_deserializer=Envelope.FromString,
        )()
        await call.write(frame)
        reply = await asyncio.wait_for(call.read(), 10)
        assert await asyncio.wait_for(call.read(), 10) is grpc.aio.EOF
    assert isinstance(reply, Envelope) and reply.WhichOneof("body") == "reject"
    return reply.reject.reason


async def test_bad_first_frames_get_a_reject_and_leave_no_traceback(
    coordinator: CoordinatorProcess,
) -> None:
    for frame in BAD_FIRST_FRAMES.values():
        assert await _ws_reject(coordinator, frame) == "invalid"
    for name, frame in BAD_FIRST_FRAMES.items():
        if isinstance(frame, bytes) and name != "a text frame":
            assert await _grpc_reject(coordinator, frame) == "invalid"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{coordinator.url}/healthz")).status_code == 200
    log = coordinator.log()
    assert "Traceback" not in log and "node rejected" in log


async def _latency(client: httpx.AsyncClient, until: float) -> list[float]:
    samples: list[float] = []
    while time.monotonic() < until:
        started = time.monotonic()
        response = await client.get("/api/v1/nodes")
        assert response.status_code == 200
        samples.append((time.monotonic() - started) * 1000)
        await asyncio.sleep(0.05)
    return samples


async def test_a_garbage_flood_neither_slows_the_api_nor_drops_a_node(
    coordinator: CoordinatorProcess,
) -> None:
    node = SimulatedNode(coordinator.ws_url, "steady-node", "s" * 43, containers=5)
    task = asyncio.create_task(node.run())
    try:
        token = coordinator.login()
        async with api(coordinator, token) as client:
            await wait_online(client, node.node_id)
            baseline = await _latency(client, time.monotonic() + 1)
            flood = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).with_name("link_flood.py")),
                f"{coordinator.ws_url}/api/v1/link",
                "4",
                "6",
                stdout=subprocess.PIPE,
            )
            during = await _latency(client, time.monotonic() + 6)
            out, _ = await flood.communicate()
            nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
        attempts = int(out)
        report = (
            f"{attempts} garbage link attempts from 4 clients in 6 s; GET /api/v1/nodes "
            f"median {statistics.median(baseline):.1f} ms before, during: median "
            f"{statistics.median(during):.1f} ms, max {max(during):.1f} ms"
        )
        print(report)
        assert attempts > 100, report
        assert max(during) < 1000, report
        assert [n["status"] for n in nodes] == ["online"]
        assert not task.done()  # the node's link never dropped
        assert "Traceback" not in coordinator.log()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
