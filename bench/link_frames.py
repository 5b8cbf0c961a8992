"""Micro-benchmark of the node link: frames per second over memory, WebSocket and gRPC.

By default both ends run in this one process on loopback, sharing one core: the pessimistic
view. With ``--split`` the node's end runs in a child process (as in production, where the
node is another process on another host), so the figures are what one coordinator process
does for one node. Run::

    .venv/bin/python bench/link_frames.py [--split] [--uvloop] [--frames 200000] [--size 100]

Measures, per transport: one-way channel data (the node's handler sends ``--frames`` frames
of ``--size`` bytes to the coordinator, which reads them), sequential request round trips,
and concurrent requests (``--concurrency`` in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import docklord  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402

from docklord.errors import LinkClosed  # noqa: E402
from docklord.link import (  # noqa: E402
    Channel,
    GrpcLinkServer,
    LinkSession,
    StarletteWebSocketTransport,
    Transport,
    connect_grpc,
    connect_websocket,
    memory_pair,
)
from docklord.testing import eventually  # noqa: E402

PairMaker = Callable[[bool], AbstractAsyncContextManager[LinkSession]]


@dataclass
class Row:
    transport: str
    frames_per_s: float
    mb_per_s: float
    rtt_per_s: float
    rtt_p50_us: float
    concurrent_per_s: float


async def node_request(method: str, args: Any) -> Any:
    return args


async def node_channel(channel: Channel) -> None:
    chunk = b"x" * channel.args["size"]
    for _ in range(channel.args["count"]):
        await channel.send(chunk, 1)


def node_session(transport: Transport) -> LinkSession:
    return LinkSession(
        transport, name="node", dialer=True, on_request=node_request, on_channel=node_channel
    )


@contextlib.asynccontextmanager
async def running(
    coordinator_end: Transport, node_end: Transport | None
) -> AsyncIterator[LinkSession]:
    """Runs the coordinator's session, and the node's too unless it lives in a child."""
    coordinator = LinkSession(coordinator_end, name="coordinator")
    node = node_session(node_end) if node_end is not None else None
    runs = [asyncio.create_task(session.run()) for session in (coordinator, node) if session]
    try:
        yield coordinator
    finally:
        if node is not None:
            await node.aclose()
        await coordinator.aclose()
        await asyncio.gather(*runs, return_exceptions=True)


async def run_node(kind: str, address: str) -> None:
    """The child process of ``--split``: dial, serve until the coordinator closes the link."""
    transport = await (connect_websocket(address) if kind == "websocket" else connect_grpc(address))
    async with node_session(transport) as node:
        with contextlib.suppress(LinkClosed):
            await node.run()


@contextlib.asynccontextmanager
async def dial(kind: str, address: str, split: bool) -> AsyncIterator[Transport | None]:
    """The node's end in this process, or ``None`` when a child process dials instead."""
    if not split:
        yield await (connect_websocket(address) if kind == "websocket" else connect_grpc(address))
        return
    child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--node", kind, address)
    try:
        yield None
    finally:
        await asyncio.wait_for(child.wait(), 10)


@contextlib.asynccontextmanager
async def over_memory(split: bool) -> AsyncIterator[LinkSession]:
    node_end, coordinator_end = memory_pair()
    async with running(coordinator_end, node_end) as coordinator:
        yield coordinator


class Acceptor:
    """Hands server-side transports to the benchmark and keeps them open until it is done."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[Transport] = asyncio.Queue()
        self.done = asyncio.Event()

    async def __call__(self, transport: Transport) -> None:
        self.accepted.put_nowait(transport)
        await self.done.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def over_websocket(split: bool) -> AsyncIterator[LinkSession]:
    acceptor = Acceptor()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await acceptor(StarletteWebSocketTransport(websocket))

    app = Starlette(routes=[WebSocketRoute("/api/v1/link", endpoint)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, interval=0.01, what="uvicorn to start")
    try:
        async with (
            dial("websocket", f"ws://127.0.0.1:{port}/api/v1/link", split) as node_end,
            running(await acceptor.accepted.get(), node_end) as coordinator,
        ):
            yield coordinator
    finally:
        acceptor.done.set()
        server.should_exit = True
        await serving


@contextlib.asynccontextmanager
async def over_grpc(split: bool) -> AsyncIterator[LinkSession]:
    acceptor = Acceptor()
    async with GrpcLinkServer(acceptor) as server:
        try:
            async with (
                dial("grpc", f"127.0.0.1:{server.port}", split) as node_end,
                running(await acceptor.accepted.get(), node_end) as coordinator,
            ):
                yield coordinator
        finally:
            acceptor.done.set()


async def channel_rate(coordinator: LinkSession, frames: int, size: int) -> tuple[float, float]:
    started = time.perf_counter()
    channel = await coordinator.open_channel("flood", {"count": frames, "size": size})
    received = total = 0
    async for _, data in channel:
        received += 1
        total += len(data)
    elapsed = time.perf_counter() - started
    assert received == frames, f"{received} of {frames} frames"
    return received / elapsed, total / elapsed / 1e6


async def sequential_rtt(coordinator: LinkSession, count: int) -> tuple[float, float]:
    samples = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        await coordinator.request("echo", i)
        samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return count / elapsed, statistics.median(samples) * 1e6


async def concurrent_rate(coordinator: LinkSession, count: int, concurrency: int) -> float:
    async def worker(n: int) -> None:
        for i in range(n):
            await coordinator.request("echo", i)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker(count // concurrency))
    return (count // concurrency * concurrency) / (time.perf_counter() - started)


async def measure(name: str, make: PairMaker, args: argparse.Namespace) -> Row:
    async with make(args.split and name != "memory") as coordinator:
        await channel_rate(coordinator, 2000, args.size)  # warm up
        frames_per_s, mb_per_s = await channel_rate(coordinator, args.frames, args.size)
        rtt_per_s, p50 = await sequential_rtt(coordinator, args.requests)
        concurrent = await concurrent_rate(coordinator, args.requests, args.concurrency)
    return Row(name, frames_per_s, mb_per_s, rtt_per_s, p50, concurrent)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    loop = "uvloop" if args.uvloop else "asyncio"
    where = "node in a child process" if args.split else "both ends in one process"
    print(f"\nlink frames, {where} ({loop}, {args.size}-byte channel frames)")
    header = ("transport", "channel frames/s", "MB/s", "req RTT/s", "RTT p50 µs", "req/s @N")
    print("{:<10} {:>17} {:>8} {:>10} {:>11} {:>9}".format(*header))
    for row in rows:
        print(
            f"{row.transport:<10} {row.frames_per_s:>17,.0f} {row.mb_per_s:>8.1f} "
            f"{row.rtt_per_s:>10,.0f} {row.rtt_p50_us:>11.0f} {row.concurrent_per_s:>9,.0f}"
        )
    print(f"(req/s @N: {args.concurrency} requests in flight; target: >= 50,000 frames/s)")


async def main(args: argparse.Namespace) -> None:
    makers: dict[str, PairMaker] = {
        "memory": over_memory,
        "websocket": over_websocket,
        "grpc": over_grpc,
    }
    rows = [await measure(name, makers[name], args) for name in args.transports.split(",")]
    print_table(rows, args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--transports", default="memory,websocket,grpc")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--split", action="store_true", help="run the node in a child process")
    parser.add_argument("--node", nargs=2, metavar=("KIND", "ADDRESS"), help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    options = parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    entry = run_node(*options.node) if options.node else main(options)
    if options.uvloop:
        import uvloop

        uvloop.run(entry)
    else:
        asyncio.run(entry)
