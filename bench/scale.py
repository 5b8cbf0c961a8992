"""Scale benchmarks (DESIGN.md §8): many simulated nodes on one coordinator; an idle node.

    DOCKER_HOST=$(./scripts/engine) .venv/bin/python -m bench.scale [--nodes N] [--rate R]

1. ``--nodes`` simulated nodes (``docklord.testing.SimulatedNode``, 50 containers each) link to
   one coordinator process over WebSocket; then they emit ``--rate`` events per second in total
   for ``--seconds``, and a client of ``/api/v1/events/ws`` measures each event's latency from
   the moment the node emitted it. Reports the coordinator's resident memory and p50/p99.
2. A real node agent linked to a coordinator, idle (no engine activity): resident memory and
   CPU over ``--idle`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import websockets

from bench._common import docker_host, fleet, machine, pct, preregister, table
from docklord.logs import configure
from docklord.testing import CoordinatorProcess, SimulatedNode


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def simulate(
    coordinator: CoordinatorProcess, args: argparse.Namespace, credentials: dict[str, str]
) -> list[str]:
    url = coordinator.ws_url
    nodes = [
        SimulatedNode(url, node_id, secret, containers=args.containers)
        for node_id, secret in credentials.items()
    ]
    started = time.monotonic()
    gate = asyncio.Semaphore(32)  # do not open thousands of sockets in the same instant

    async def run(node: SimulatedNode) -> None:
        async with gate:
            task = asyncio.create_task(node.run())
            tasks.append(task)
            await node.linked.wait()

    tasks: list[asyncio.Task[None]] = []
    await asyncio.gather(*(run(n) for n in nodes))
    linked = time.monotonic() - started
    # The simulated nodes' many long-lived objects would make this process's own full
    # collections the slowest part of the measurement: keep them out of the cyclic GC.
    gc.freeze()
    token = coordinator.login()
    ws_url = f"ws://127.0.0.1:{coordinator.port}/api/v1/events/ws?token={token}"
    latencies: list[float] = []
    async with websockets.connect(ws_url, max_size=2**28) as ws:
        first = json.loads(await ws.recv())
        listed = len(first["containers"])
        rss_before = rss_mb(coordinator.proc.pid)  # type: ignore[union-attr]
        reader = asyncio.create_task(_read(ws, latencies))
        total = int(args.rate * args.seconds)
        tick = 1 / args.rate
        begin = time.monotonic()
        for i in range(total):
            nodes[i % len(nodes)].emit()
            delay = begin + (i + 1) * tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(2)
        reader.cancel()
        rss_after = rss_mb(coordinator.proc.pid)  # type: ignore[union-attr]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [
        f"{args.nodes} nodes x {args.containers} containers linked in {linked:.1f} s",
        f"{listed} containers in the snapshot",
        f"{len(latencies)}/{total} events received",
        f"{rss_before:.0f} MB",
        f"{rss_after:.0f} MB",
        f"{pct(latencies, 0.5):.1f} ms",
        f"{pct(latencies, 0.99):.1f} ms",
    ]


async def _read(ws: websockets.ClientConnection, out: list[float]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        if message.get("kind") == "event":
            out.append((time.time_ns() - message["time_nano"]) / 1e6)


def idle_node(seconds: float) -> tuple[float, float]:
    with fleet("ws") as (_coordinator, node, _token):
        time.sleep(5)  # let start-up settle
        pid = node.proc.pid  # type: ignore[union-attr]
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
        return rss_mb(pid), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    docker_host()
    configure("console", "warning")
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="docklord-scale-"))
    coordinator = CoordinatorProcess(work, extra_args=["--log-level=warning", "--grpc-port=0"])
    (work / "data").mkdir(parents=True)
    # Pre-registered: open registration throttles 1,000 new nodes from one address.
    store_url = f"sqlite+aiosqlite:///{work / 'data' / 'docklord.db'}"
    credentials = asyncio.run(preregister(store_url, "sim", args.nodes))
    coordinator.start()
    try:
        coordinator.wait_ready()
        sim = asyncio.run(simulate(coordinator, args, credentials))
    finally:
        coordinator.stop()
    rss, cpu = idle_node(args.idle)
    rows = [
        ("simulated fleet", sim[0], ""),
        ("fleet snapshot", sim[1], ""),
        (f"events at {args.rate:.0f}/s for {args.seconds:.0f} s", sim[2], "all"),
        ("coordinator RSS after linking", sim[3], ""),
        ("coordinator RSS after the events", sim[4], "<= 500 MB"),
        ("event latency p50 (emit -> client)", sim[5], ""),
        ("event latency p99 (emit -> client)", sim[6], "<= 200 ms"),
        (f"idle node agent RSS ({args.idle:.0f} s)", f"{rss:.0f} MB", "<= 60 MB"),
        ("idle node agent CPU", f"{cpu:.2f} % of a core", "<= 1 %"),
    ]
    print(table(rows, ("measure", "result", "target")))


if __name__ == "__main__":
    main()
