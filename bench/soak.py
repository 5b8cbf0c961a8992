"""Soak: N minutes of mixed load on a real coordinator and node; do their resources stay flat?

    DOCKER_HOST=$(./scripts/engine) .venv/bin/python -m bench.soak [--minutes 10]
        [--journal 1000] [--tracemalloc FRAMES]

Not part of the test suite. One coordinator and one node process, on the engine under test.
Running at once, until the time is up:

- churn: create, start, stop and remove a labelled busybox container through the API (the
  engine events that makes flow to every events client);
- events: one events/ws client reading all along, and one that connects, reads its snapshot
  and closes, again and again;
- log follows: follow a container that prints a line every 0.1 s over logs/ws for 2 s, close,
  again;
- execs: one-shot ``echo`` through ``POST .../exec``;
- REST: the fleet list, the node, its images.

The bounded caches are made small so that they are full before the start figure: event
journals of ``--journal`` events (``DOCKLORD_EVENT_JOURNAL``, product default 10,000, which this
load takes some 10 minutes to fill) and a minute of resource history (``--stats-retention``).
What still grows after that is not a cache filling.

RSS, open fds (from /proc) and asyncio tasks (``kill -USR1``: the processes log
``runtime stats``) of the coordinator and the node are taken after a warm-up of 20 s and at the
end, once the load has stopped and 3 s have passed; once a minute too, with where the memory
is: Python's allocated blocks, C's malloc heap in use, and heap that malloc holds free
(fragmentation, which RSS counts but no object owns). The tables show them and the operations
done.

``--tracemalloc FRAMES`` runs both processes with ``PYTHONTRACEMALLOC``: each figure then also
has the memory of live Python allocations, and the end the 15 source lines whose allocations
grew most since the minute before. Tracing doubles memory and each look takes the processes
seconds of CPU, so RSS and operation counts of a traced run are not the product's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench._common import docker_host, machine, table
from docklord.testing import CoordinatorProcess, NodeProcess, eventually

IMAGE = "docklord-test/busybox:latest"
LABELS = {"docklord.bench": "soak", "docklord.test": "1"}
WARM_UP = 20.0


class Load:
    """The mixed load; counts what it did and what failed."""

    def __init__(self, coordinator: CoordinatorProcess, token: str, node_id: str) -> None:
        self.coordinator = coordinator
        self.token = token
        self.node = f"/api/v1/nodes/{node_id}"
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.errors: list[str] = []
        self.stop = asyncio.Event()
        self.client = httpx.AsyncClient(
            base_url=coordinator.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def _ws(self, path: str) -> Any:
        return websockets.connect(
            f"ws://127.0.0.1:{self.coordinator.port}{path}",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            max_size=2**24,
        )

    async def loop(self, name: str, step: Callable[[], Awaitable[None]]) -> None:
        while not self.stop.is_set():
            try:
                await step()
                self.done[name] += 1
            except Exception as exc:  # noqa: BLE001 - counted and shown, the soak goes on
                self.failed[name] += 1
                if len(self.errors) < 20:
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(0.5)

    async def churn(self) -> None:
        name = f"soak-{secrets.token_hex(4)}"
        body = {"image": IMAGE, "name": name, "cmd": ["sleep", "30"], "labels": LABELS}
        made = await self.client.post(f"{self.node}/containers", json={**body, "start": True})
        made.raise_for_status()
        ref = made.json()["id"]
        (await self.client.post(f"{self.node}/containers/{ref}/stop?timeout=0")).raise_for_status()
        (await self.client.delete(f"{self.node}/containers/{ref}?force=true")).raise_for_status()

    async def events_reader(self) -> None:
        async with self._ws("/api/v1/events/ws") as ws:
            while not self.stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 1.0)
                    self.done["events received"] += 1
                except TimeoutError:
                    continue

    async def events_reconnect(self) -> None:
        async with self._ws("/api/v1/events/ws") as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["kind"] == "snapshot"
        await asyncio.sleep(0.2)

    async def follow(self, ref: str) -> None:
        async with self._ws(f"{self.node}/containers/{ref}/logs/ws?follow=true&tail=5") as ws:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
                except TimeoutError:
                    break

    async def exec_once(self, ref: str) -> None:
        answer = await self.client.post(
            f"{self.node}/containers/{ref}/exec", json={"cmd": ["echo", "soak"]}
        )
        answer.raise_for_status()
        assert answer.json()["stdout"].strip() == "soak"

    async def rest(self) -> None:
        for path in ("/api/v1/containers", self.node, f"{self.node}/images"):
            (await self.client.get(path)).raise_for_status()


def _figures(proc: CoordinatorProcess | NodeProcess, label: str) -> dict[str, Any]:
    """RSS and fds from /proc; tasks from the ``runtime stats`` line that SIGUSR1 asks for."""
    assert proc.proc is not None
    pid = proc.proc.pid
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    before = proc.log().count('"runtime stats"')
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while proc.log().count('"runtime stats"') == before:
        if time.monotonic() > deadline:
            raise SystemExit(f"{label} did not log its runtime stats")
        time.sleep(0.05)
    line = [ln for ln in proc.log().splitlines() if '"runtime stats"' in ln][-1]
    logged = json.loads(line)
    figures: dict[str, Any] = {"rss_kib": rss, "fds": fds, "tasks": int(logged["tasks"])}
    for key in ("py_blocks", "malloc_used_kib", "malloc_free_kib", "traced_kib"):
        if key in logged:
            figures[key] = int(logged[key])
    if "traced_kib" in logged:
        figures["growth"] = _growth(proc)
    return figures


def _growth(proc: CoordinatorProcess | NodeProcess) -> list[str]:
    """The ``allocation growth`` the process logs after its stats (when it traces)."""
    # Grouping every live block by line takes a traced coordinator 10-40 s of a busy CPU.
    deadline = time.monotonic() + 300
    while True:
        lines = proc.log().splitlines()
        last_stats = max(i for i, ln in enumerate(lines) if '"runtime stats"' in ln)
        after = [ln for ln in lines[last_stats:] if '"allocation growth"' in ln]
        if after:
            return [str(x) for x in json.loads(after[0])["top"]]
        if time.monotonic() > deadline:
            raise SystemExit("no allocation growth logged")
        time.sleep(0.1)


#: The figures of the per-minute table, from ``runtime stats`` (KiB but ``py_blocks``).
_SERIES = (
    ("rss_kib", "RSS"),
    ("py_blocks", "Python blocks (k)"),
    ("malloc_used_kib", "malloc in use"),
    ("malloc_free_kib", "malloc held free"),
    ("traced_kib", "traced"),
)


async def _series(
    coordinator: CoordinatorProcess, node: NodeProcess, stop: asyncio.Event
) -> list[tuple[float, dict[str, Any], dict[str, Any]]]:
    """Both processes' figures once a minute: does RSS level off, or climb on, and where?

    RSS that climbs while Python's blocks and C's heap in use stay flat is memory the
    allocators keep (fragmentation), not objects that pile up.
    """
    started = time.monotonic()
    series: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=60)
        if stop.is_set():
            break
        c, n = await asyncio.to_thread(_both, coordinator, node)
        series.append(((time.monotonic() - started) / 60, c, n))
    return series


def _series_table(series: list[tuple[float, dict[str, Any], dict[str, Any]]], who: int) -> str:
    keys = [(k, h) for k, h in _SERIES if series and k in series[0][who]]
    rows = [(f"{row[0]:.0f}", *(_mib_or_k(k, row[who][k]) for k, _ in keys)) for row in series]
    return table(rows, ("minute", *(h if k == "py_blocks" else f"{h} (MiB)" for k, h in keys)))


def _mib_or_k(key: str, value: int) -> str:
    return f"{value / 1000:.0f}" if key == "py_blocks" else f"{value / 1024:.1f}"


_PROBING = threading.Lock()


def _both(
    coordinator: CoordinatorProcess, node: NodeProcess
) -> tuple[dict[str, Any], dict[str, Any]]:
    # One probe at a time: each reads the log lines its own signal produced.
    with _PROBING:
        return _figures(coordinator, "coordinator"), _figures(node, "node")


def soak(minutes: float, trace_frames: int, journal: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="docklord-soak-"))
    # Small journals fill in the first minute, so that what the end figures show is growth
    # past every cap, not journals still filling (10,000 events take some 10 minutes here).
    env = {"DOCKLORD_EVENT_JOURNAL": str(journal)}
    if trace_frames:
        env["PYTHONTRACEMALLOC"] = str(trace_frames)
    # Likewise an hour of resource history per container (the printer's) would still be
    # filling at the end: a minute of it is full before the start figure.
    coordinator = CoordinatorProcess(
        work / "c", extra_args=["--log-format=json", "--stats-retention=60"], env=env
    )
    coordinator.workdir.mkdir(parents=True)
    node = NodeProcess(
        [coordinator.ws_url],
        f"soak-{secrets.token_hex(3)}",
        secrets.token_urlsafe(16),
        docker_host=docker_host(),
        workdir=work / "n",
        extra_args=["--log-format=json"],
        env=env,
    )
    node.workdir.mkdir(parents=True)
    printer = f"soak-printer-{secrets.token_hex(3)}"
    try:
        # In the try: a coordinator that is slow to get ready is stopped with the rest.
        coordinator.start()
        coordinator.wait_ready(timeout=120)  # tracing slows the imports down
        node.start()
        asyncio.run(_soak(coordinator, node, printer, minutes))
    finally:
        subprocess.run(["docker", "rm", "-f", printer], capture_output=True, check=False)
        leftovers = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=docklord.bench=soak"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if leftovers:
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, check=False)
        node.stop()
        coordinator.stop()


async def _soak(
    coordinator: CoordinatorProcess, node: NodeProcess, printer: str, minutes: float
) -> None:
    load = Load(coordinator, coordinator.login(), node.node_id)

    async def online() -> bool:
        info = await load.client.get(load.node)
        return info.status_code == 200 and info.json()["status"] == "online"

    await eventually(online, timeout=30, what="the node online")
    await _run(load, coordinator, node, printer, minutes)


async def _run(
    load: Load,
    coordinator: CoordinatorProcess,
    node: NodeProcess,
    printer: str,
    minutes: float,
) -> None:
    body = {
        "image": IMAGE,
        "name": printer,
        "cmd": ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done"],
        "labels": LABELS,
        "start": True,
    }
    made = await load.client.post(f"{load.node}/containers", json=body)
    made.raise_for_status()
    ref = made.json()["id"]
    tasks = [
        asyncio.create_task(load.loop("churn", load.churn)),
        asyncio.create_task(load.loop("events reader", load.events_reader)),
        asyncio.create_task(load.loop("events reconnect", load.events_reconnect)),
        asyncio.create_task(load.loop("log follow", lambda: load.follow(ref))),
        asyncio.create_task(load.loop("exec", lambda: load.exec_once(ref))),
        asyncio.create_task(load.loop("rest", load.rest)),
    ]
    series = asyncio.create_task(_series(coordinator, node, load.stop))
    started = time.monotonic()
    await asyncio.sleep(WARM_UP)
    first = await asyncio.to_thread(_both, coordinator, node)
    await asyncio.sleep(max(0.0, minutes * 60 - (time.monotonic() - started)))
    load.stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    await asyncio.sleep(3)
    last = await asyncio.to_thread(_both, coordinator, node)
    await load.client.aclose()
    _report(load, first, last, elapsed)
    every_minute = await series
    for who, name in ((1, "coordinator"), (2, "node")):
        print(f"{name}, each minute:")
        print(_series_table(every_minute, who))


def _report(
    load: Load,
    first: tuple[dict[str, Any], dict[str, Any]],
    last: tuple[dict[str, Any], dict[str, Any]],
    elapsed: float,
) -> None:
    print(f"soak: {elapsed / 60:.1f} min of mixed load on {machine()}")
    rows: list[tuple[str, ...]] = []
    for who, a, b in (("coordinator", first[0], last[0]), ("node", first[1], last[1])):
        for key, unit in (
            ("rss_kib", "RSS (MiB)"),
            ("py_blocks", "Python blocks (k)"),
            ("malloc_used_kib", "malloc in use (MiB)"),
            ("malloc_free_kib", "malloc held free (MiB)"),
            ("traced_kib", "traced by tracemalloc (MiB)"),
            ("fds", "open fds"),
            ("tasks", "tasks"),
        ):
            if key not in a:
                continue
            scale = 1024 if key.endswith("_kib") else 1000 if key == "py_blocks" else 1
            rows.append((who, unit, f"{a[key] / scale:.1f}", f"{b[key] / scale:.1f}"))
    print(table(rows, ("process", "what", f"after {WARM_UP:.0f} s", "at the end")))
    ops: list[tuple[str, ...]] = [
        (name, str(n), str(load.failed.get(name, 0))) for name, n in sorted(load.done.items())
    ]
    ops += [(name, "0", str(n)) for name, n in load.failed.items() if name not in load.done]
    print(table(ops, ("operation", "done", "failed")))
    for error in load.errors:
        print(f"  error: {error}")
    for who, end in (("coordinator", last[0]), ("node", last[1])):
        if "growth" in end:
            print(f"{who}: allocations that grew most since the figure before the end one:")
            for growth in end["growth"]:
                print(f"  {growth}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="run both processes with PYTHONTRACEMALLOC=FRAMES and print the source lines "
        "whose allocations grew most in the last minute (default 0: off)",
    )
    parser.add_argument(
        "--journal",
        type=int,
        default=1000,
        metavar="EVENTS",
        help="events each process journals per node (DOCKLORD_EVENT_JOURNAL; default 1000, "
        "full within the first minute; the product's default is 10000)",
    )
    args = parser.parse_args()
    soak(args.minutes, args.tracemalloc, args.journal)


if __name__ == "__main__":
    main()
