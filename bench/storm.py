"""Reconnect storm (DESIGN.md §8): N nodes relink after a coordinator restart.

    .venv/bin/python -m bench.storm [--nodes 1000] [--containers 50] [--argon2]

The nodes are pre-registered in the coordinator's store with machine-made secrets
(``secrets.token_urlsafe(32)``, as ``POST /api/v1/nodes`` and enrollment make them). With
``--argon2`` their hashes are first replaced by argon2 hashes, as an older Docklord stored
them, so the first relink also migrates every hash.

1. A coordinator process starts; every simulated node (``docklord.testing.SimulatedNode``, all
   in this process, WebSocket links) links at once; the time until ``/api/v1/nodes`` shows all
   of them online is the cold start.
2. The coordinator is stopped (SIGTERM) and started again on the same data dir and port. The
   nodes retry every 0.2-0.7 s (with jitter) until they get in. The time from the restart to
   all online is the storm; it is measured twice (the second one after any migration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import tempfile
import time
from pathlib import Path

import httpx

from bench._common import machine, preregister, table
from bench.scale import cpu_seconds
from docklord.errors import DocklordError
from docklord.logs import configure
from docklord.testing import CoordinatorProcess, SimulatedNode


async def keep_linked(node: SimulatedNode) -> None:
    """Runs the node, relinking after each loss, until cancelled."""
    while True:
        with contextlib.suppress(DocklordError, OSError, TimeoutError):
            await node.run()
        node.linked.clear()
        await asyncio.sleep(0.2 + random.random() / 2)  # noqa: S311 - jitter


async def all_online(coordinator: CoordinatorProcess, count: int, since: float) -> float:
    """Seconds from ``since`` until the coordinator lists ``count`` nodes online."""
    token = coordinator.login()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=coordinator.url, headers=headers, timeout=30) as client:
        while True:
            nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
            if sum(n["status"] == "online" for n in nodes) >= count:
                return time.monotonic() - since
            await asyncio.sleep(0.1)


async def wait_ready(coordinator: CoordinatorProcess) -> None:
    await asyncio.to_thread(coordinator.wait_ready, 60)


async def storm(args: argparse.Namespace) -> list[tuple[str, ...]]:
    work = Path(tempfile.mkdtemp(prefix="docklord-storm-"))
    coordinator = CoordinatorProcess(
        work, registration="enroll", extra_args=["--log-level=warning"]
    )
    (work / "data").mkdir(parents=True)
    url = f"sqlite+aiosqlite:///{work / 'data' / 'docklord.db'}"
    started = time.monotonic()
    secrets_by_id = await preregister(url, "storm", args.nodes, argon2=args.argon2)
    prepared = time.monotonic() - started
    nodes = [
        SimulatedNode(coordinator.ws_url, node_id, secret, containers=args.containers)
        for node_id, secret in secrets_by_id.items()
    ]
    coordinator.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        await wait_ready(coordinator)
        began = time.monotonic()
        tasks = [asyncio.create_task(keep_linked(n)) for n in nodes]
        cold = await all_online(coordinator, args.nodes, began)
        gc.freeze()
        rows: list[tuple[str, ...]] = [
            ("cold start: every node links at once", f"{cold:.1f} s", "")
        ]
        for round_ in (1, 2):
            coordinator.stop()
            restarted = time.monotonic()
            coordinator.start()
            await wait_ready(coordinator)
            ready = time.monotonic() - restarted
            cpu = cpu_seconds(coordinator.proc.pid)  # type: ignore[union-attr]
            total = await all_online(coordinator, args.nodes, restarted)
            cpu = cpu_seconds(coordinator.proc.pid) - cpu  # type: ignore[union-attr]
            rows.append(
                (
                    f"restart {round_}: all {args.nodes} online again",
                    f"{total:.1f} s (ready after {ready:.1f} s; then {cpu:.1f} s of "
                    "coordinator CPU)",
                    "<= 15 s",
                )
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        coordinator.stop()
    kind = "argon2 (migrated on the first relink)" if args.argon2 else "fast keyed hash"
    rows.insert(0, (f"{args.nodes} nodes registered, secrets on {kind}", f"{prepared:.1f} s", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--argon2", action="store_true", help="start from argon2 hashes")
    args = parser.parse_args()
    configure("console", "warning")
    print(machine())
    rows = asyncio.run(storm(args))
    print(table(rows, ("measure", "result", "target")))


if __name__ == "__main__":
    main()
