"""Fleet benchmarks (DESIGN.md §8): event latency and the fleet container list.

    DOCKER_HOST=$(./scripts/engine) .venv/bin/python -m bench.fleet [--events N] [--containers N]

1. Event latency added by Docklord: the same engine events are received by a direct engine
   event subscription and by a client of the coordinator's ``/api/v1/events/ws``; the added
   latency is the difference, per event (p50 / p99).
2. Fleet list: ``GET /api/v1/containers`` through the coordinator against the direct
   ``GET /containers/json?all=1`` on the engine socket, with N containers on the node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from typing import Any

import httpx
import websockets

from bench._common import docker_host, fleet, machine, median, pct, table
from docklord.engine import Engine
from docklord.model import ContainerSpec

LABEL = {"docklord.bench": "1", "docklord.test": "1"}


async def event_latency(port: int, token: str, count: int) -> tuple[float, float]:
    async with Engine(docker_host()) as engine:
        cid = await engine.create_container(
            ContainerSpec(image="docklord-test/busybox:latest", cmd=["sleep", "600"], labels=LABEL)
        )
        await engine.start(cid)
        direct: dict[int, float] = {}
        via: dict[int, float] = {}
        try:
            url = f"ws://127.0.0.1:{port}/api/v1/events/ws?token={token}"
            async with websockets.connect(url, max_size=2**26) as ws:
                await ws.recv()  # snapshot
                watch = asyncio.create_task(_direct(engine, cid, direct))
                reader = asyncio.create_task(_via(ws, cid, via))
                await asyncio.sleep(0.3)
                for i in range(count):
                    await (engine.pause(cid) if i % 2 == 0 else engine.unpause(cid))
                    await asyncio.sleep(0.01)
                for _ in range(300):
                    if len(via) >= count and len(direct) >= count:
                        break
                    await asyncio.sleep(0.01)
                watch.cancel()
                reader.cancel()
        finally:
            await engine.remove(cid, force=True)
    added = [(via[k] - direct[k]) * 1000 for k in direct if k in via]
    return pct(added, 0.5), pct(added, 0.99)


async def _direct(engine: Engine, cid: str, out: dict[int, float]) -> None:
    async for event in engine.events(filters={"container": [cid]}):
        if event.action in ("pause", "unpause"):
            out[event.time_nano] = time.perf_counter()


async def _via(ws: Any, cid: str, out: dict[int, float]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        if message.get("actor_id") == cid and message.get("action") in ("pause", "unpause"):
            out[message["time_nano"]] = time.perf_counter()


async def fleet_list(port: int, token: str, n: int, rounds: int) -> tuple[float, float]:
    sock = docker_host().removeprefix("unix://")
    async with (
        httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=sock)) as engine,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as api,
    ):
        for _ in range(300):
            count = (await api.get("/api/v1/containers", params={"label": "docklord.bench"})).json()
            if count["count"] >= n:
                break
            await asyncio.sleep(0.05)
        direct, via = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            (await engine.get("http://docker/containers/json?all=1")).raise_for_status()
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            (await api.get("/api/v1/containers")).raise_for_status()
            via.append(time.perf_counter() - t)
    return median(direct) * 1000, median(via) * 1000


def make_containers(n: int) -> list[str]:
    ids = []
    for _ in range(n):
        out = subprocess.run(
            [
                "docker",
                "create",
                "--label",
                "docklord.bench=1",
                "--label",
                "docklord.test=1",
                "--network=none",
                "docklord-test/busybox:latest",
                "true",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip())
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(machine())
    rows = []
    with fleet("ws") as (coordinator, _node, token):
        p50, p99 = asyncio.run(event_latency(coordinator.port, token, args.events))
        rows.append(("event latency added, p50", f"{p50:.2f} ms", "<= 5 ms"))
        rows.append(("event latency added, p99", f"{p99:.2f} ms", "<= 25 ms"))
        ids = make_containers(args.containers)
        try:
            direct, via = asyncio.run(
                fleet_list(coordinator.port, token, args.containers, args.rounds)
            )
        finally:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
        rows.append((f"direct GET /containers/json ({args.containers})", f"{direct:.2f} ms", ""))
        rows.append((f"GET /api/v1/containers ({args.containers})", f"{via:.2f} ms", ""))
        rows.append(("fleet list ratio (coordinator / direct)", f"{via / direct:.2f}x", "<= 1.0x"))
    print(table(rows, ("measure", "result", "target")))


if __name__ == "__main__":
    main()
