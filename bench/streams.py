"""Stream benchmarks (DESIGN.md §8): log follow, one-shot exec, docker ps through the tunnel.

    DOCKER_HOST=$(./scripts/engine) .venv/bin/python -m bench.streams [--lines N] [--runs N]

1. Log follow throughput: a container prints N numbered lines (``seq 1 N``) as fast as it can.
   The same output is read once straight from the engine (``Engine.logs(follow=True)``, lines
   split by the client) and once through the coordinator's ``.../logs/ws`` (node link,
   channel credit, WebSocket). "written" reads a container that has finished printing (the
   pipeline's own capacity); "live" follows a container from before it starts printing (so
   the container's own speed bounds both). Every line is checked: lost = N - distinct lines
   received in order.
2. One-shot exec round trip: ``POST /api/v1/nodes/{node}/containers/{ref}/exec`` against the
   direct ``Engine.exec_run`` (median of N runs of ``true``).
3. ``docker ps`` through ``docklord tunnel`` against the same CLI on the engine socket (median
   of N runs, CLI start-up included in both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any

import httpx
import websockets

from bench._common import docker_host, fleet, machine, median, table
from docklord.engine import Engine
from docklord.errors import NotFound
from docklord.model import ContainerSpec
from docklord.testing import free_port

LABELS = {"docklord.bench": "1", "docklord.test": "1"}
IMAGE = "docklord-test/busybox:latest"


class Lines:
    """Counts lines and checks they are 1..N in order, exactly once."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.next = 1
        self.out_of_order = 0

    def add(self, line: str) -> None:
        self.count += 1
        self.bytes += len(line) + 1
        if line == str(self.next):
            self.next += 1
        else:
            self.out_of_order += 1

    def lost(self, n: int) -> int:
        return n - (self.next - 1)


async def direct_follow(engine: Engine, cid: str) -> Lines:
    lines, partial = Lines(), b""
    async for chunk in engine.logs(cid, follow=True):
        *complete, partial = (partial + chunk.data).split(b"\n")
        for line in complete:
            lines.add(line.decode())
    return lines


async def coordinator_follow(port: int, token: str, node: str, cid: str) -> Lines:
    lines = Lines()
    url = f"ws://127.0.0.1:{port}/api/v1/nodes/{node}/containers/{cid}/logs/ws?follow=true"
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(url, additional_headers=headers, max_size=2**24) as ws:
        async for frame in ws:
            for entry in json.loads(frame)["lines"]:
                lines.add(entry["line"])
    return lines


async def timed(read: Awaitable[Lines]) -> tuple[float, Lines]:
    started = time.perf_counter()
    lines = await read
    return time.perf_counter() - started, lines


async def log_throughput(
    engine: Engine, port: int, token: str, node: str, n: int, live: bool
) -> tuple[tuple[float, Lines], tuple[float, Lines]]:
    """(seconds, lines) direct, then through the coordinator; best of three each."""
    results: dict[str, list[tuple[float, Lines]]] = {"direct": [], "coordinator": []}
    for _ in range(3):
        for way in results:
            cmd = f"sleep 0.5; seq 1 {n}" if live else f"seq 1 {n}"
            spec = ContainerSpec(image=IMAGE, cmd=["sh", "-c", cmd], labels=LABELS)
            cid = await engine.create_container(spec)
            try:
                await engine.start(cid)
                if not live:
                    await _wait_exit(engine, cid)
                if way == "direct":
                    read = direct_follow(engine, cid)
                else:
                    read = coordinator_follow(port, token, node, cid)
                results[way].append(await timed(read))
            finally:
                await _remove(engine, cid)
    return min(results["direct"], key=lambda r: r[0]), min(
        results["coordinator"], key=lambda r: r[0]
    )


async def _wait_exit(engine: Engine, cid: str) -> None:
    for _ in range(6000):
        if (await engine.get_summary(cid)).state == "exited":
            return
        await asyncio.sleep(0.01)
    raise SystemExit("the log container did not finish")


async def exec_round_trip(
    engine: Engine, port: int, token: str, node: str, runs: int
) -> tuple[float, float | None]:
    spec = ContainerSpec(image=IMAGE, cmd=["sleep", "600"], labels=LABELS)
    cid = await engine.create_container(spec)
    await engine.start(cid)
    direct: list[float] = []
    via: list[float] = []
    url = f"http://127.0.0.1:{port}/api/v1/nodes/{node}/containers/{cid}/exec"
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in range(runs):
                started = time.perf_counter()
                await engine.exec_run(cid, ["true"])
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                response = await client.post(url, json={"cmd": ["true"]}, timeout=30)
                if response.status_code in (404, 405) and not via:
                    return median(direct) * 1000, None  # this build has no REST exec route
                response.raise_for_status()
                via.append(time.perf_counter() - started)
    finally:
        await _remove(engine, cid)
    return median(direct) * 1000, median(via) * 1000


async def _remove(engine: Engine, cid: str) -> None:
    # Test sessions running at the same time may have removed it already (same label).
    with contextlib.suppress(NotFound):
        await engine.remove(cid, force=True)


def docker_ps(port: int, token: str, node: str, runs: int) -> tuple[float, float]:
    listen = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")}
    env["DOCKLORD_TOKEN"] = token
    command = [sys.executable, "-m", "docklord", "tunnel", node]
    command += [f"--coordinator=http://127.0.0.1:{port}", f"--listen=127.0.0.1:{listen}"]
    tunnel = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert tunnel.stdout is not None
        host = tunnel.stdout.readline().strip().split("=", 1)[1]
        direct = [_time_ps(docker_host()) for _ in range(runs)]
        via = [_time_ps(host) for _ in range(runs)]
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
    return median(direct) * 1000, median(via) * 1000


def _time_ps(host: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", "-H", host, "ps", "-a"], capture_output=True, check=True)
    return time.perf_counter() - started


def log_rows(n: int, label: str, result: tuple[Any, Any]) -> list[tuple[str, ...]]:
    (t_direct, direct), (t_via, via) = result
    rate_direct, rate_via = direct.count / t_direct, via.count / t_via
    mb_direct, mb_via = direct.bytes / t_direct / 1e6, via.bytes / t_via / 1e6
    return [
        (
            f"logs {label}: direct engine",
            f"{rate_direct:,.0f} lines/s, {mb_direct:.1f} MB/s",
            f"lost {direct.lost(n)}, out of order {direct.out_of_order}",
        ),
        (
            f"logs {label}: coordinator WS",
            f"{rate_via:,.0f} lines/s, {mb_via:.1f} MB/s",
            f"lost {via.lost(n)}, out of order {via.out_of_order} (target 0)",
        ),
        (f"logs {label}: ratio", f"{rate_via / rate_direct:.2f}x", ">= 0.6x"),
    ]


async def measure(port: int, token: str, node: str, args: argparse.Namespace) -> list[Any]:
    rows: list[tuple[str, ...]] = []
    async with Engine(docker_host()) as engine:
        for live in (False, True):
            result = await log_throughput(engine, port, token, node, args.lines, live)
            rows += log_rows(args.lines, "live" if live else "written", result)
        direct, via = await exec_round_trip(engine, port, token, node, args.runs)
    rows.append(("exec one-shot: direct engine (median)", f"{direct:.2f} ms", ""))
    if via is None:
        rows.append(("exec one-shot: REST", "n/a (no POST .../exec route)", "<= 1.5x"))
    else:
        rows.append(("exec one-shot: REST (median)", f"{via:.2f} ms", ""))
        rows.append(("exec one-shot: ratio", f"{via / direct:.2f}x", "<= 1.5x"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(machine())
    with fleet("ws") as (coordinator, node, token):
        rows = asyncio.run(measure(coordinator.port, token, node.node_id, args))
        direct, via = docker_ps(coordinator.port, token, node.node_id, args.runs)
    rows.append(("docker ps: engine socket (median)", f"{direct:.1f} ms", ""))
    rows.append(("docker ps: through the tunnel (median)", f"{via:.1f} ms", ""))
    rows.append(("docker ps: ratio", f"{via / direct:.2f}x", "(no target)"))
    print(table(rows, ("measure", "result", "target / check")))


if __name__ == "__main__":
    main()
