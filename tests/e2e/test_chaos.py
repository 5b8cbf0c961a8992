"""Chaos with real processes: network faults on the node link, and kill -9 at random points.

Every test prints its figures on a line starting with ``CHAOS`` (run with ``-s`` to see them);
docs/RELIABILITY.md records them. Random choices come from a seed that is printed, and that
``DOCKLORD_CHAOS_SEED`` sets to replay a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets

from docklord.node._watcher import STATE_ACTIONS
from docklord.testing import (
    TEST_LABEL,
    TEST_RUN,
    CoordinatorProcess,
    TcpProxy,
    eventually,
    unique_name,
)

from .conftest import NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e


def _seed() -> int:
    seed = int(os.environ.get("DOCKLORD_CHAOS_SEED") or secrets.randbelow(2**32))
    print(f"CHAOS seed={seed}")
    return seed


def _figures(test: str, **figures: Any) -> None:
    print(f"CHAOS {test} " + json.dumps(figures, sort_keys=True))


async def _status(client: httpx.AsyncClient, node_id: str) -> str:
    return str((await client.get(f"/api/v1/nodes/{node_id}")).json()["status"])


async def test_blackholed_slow_and_dropped_link(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    with TcpProxy("127.0.0.1", coordinator.port) as proxy:
        node = start_node([f"ws://127.0.0.1:{proxy.port}"])
        async with api(coordinator, coordinator.login()) as client:
            await wait_online(client, node.node_id)
            images = f"/api/v1/nodes/{node.node_id}/images"
            assert (await client.get(images)).status_code == 200

            proxy.blackhole()
            cut = time.monotonic()
            # A request under way when the link goes silent: it fails when the loss is seen.
            in_flight = asyncio.create_task(client.get(images, timeout=60))

            async def offline() -> bool:
                return await _status(client, node.node_id) == "offline"

            await eventually(offline, timeout=15, interval=0.01, what="the loss detected")
            detected = time.monotonic()
            answer = await asyncio.wait_for(in_flight, 5)
            failed = time.monotonic()
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] in ("node_offline", "link_closed", "link_error")
            late = failed - detected
            assert late <= 1.0, f"the in-flight request failed {late:.3f}s after detection"

            asked = time.monotonic()
            after = await client.get(images)
            new_request = time.monotonic() - asked
            assert after.status_code == 503 and after.json()["error"]["code"] == "node_offline"
            assert new_request <= 1.0

            proxy.heal()
            healed = time.monotonic()
            await wait_online(client, node.node_id)
            back = time.monotonic()
            assert (await client.get(images)).status_code == 200

            # A slow link still works, only slower: 0.3 s each way.
            proxy.delay(0.3)
            asked = time.monotonic()
            assert (await client.get(images)).status_code == 200
            slow = time.monotonic() - asked
            assert slow >= 0.6

            # Connections closed under it: seen at once, and the node is back once it may.
            proxy.drop()
            dropped = time.monotonic()
            await eventually(offline, timeout=5, interval=0.01, what="the drop detected")
            drop_detected = time.monotonic()
            proxy.heal()
            await wait_online(client, node.node_id)
            drop_back = time.monotonic()
    _figures(
        "blackhole",
        detection_s=round(detected - cut, 3),
        in_flight_fail_after_detection_s=round(max(failed - detected, 0.0), 3),
        new_request_503_s=round(new_request, 3),
        time_to_heal_s=round(back - healed, 3),
        delayed_request_s=round(slow, 3),
        drop_detection_s=round(drop_detected - dropped, 3),
        drop_time_to_heal_s=round(drop_back - drop_detected, 3),
        ping_interval_s=2.0,
        dead_after_s=5.0,
    )


# ---- kill -9 at random points -----------------------------------------------------------


class ResumingClient:
    """An events/ws client that reconnects with ``since_seq`` whenever its socket ends.

    It keeps every message with the wall-clock time it arrived, and the last seq per node.
    """

    def __init__(self, coordinator: CoordinatorProcess, token: str) -> None:
        self.coordinator = coordinator
        self.token = token
        self.seen: dict[str, int] = {}
        self.messages: list[tuple[int, dict[str, Any]]] = []
        self.connects = 0

    async def run(self) -> None:
        while True:
            query = f"?since_seq={quote(json.dumps(self.seen))}" if self.seen else ""
            url = f"ws://127.0.0.1:{self.coordinator.port}/api/v1/events/ws{query}"
            try:
                async with websockets.connect(
                    url, additional_headers={"Authorization": f"Bearer {self.token}"}
                ) as ws:
                    self.connects += 1
                    async for raw in ws:
                        self._keep(json.loads(raw))
            except (OSError, websockets.WebSocketException):
                await asyncio.sleep(0.05)

    def _keep(self, message: dict[str, Any]) -> None:
        self.messages.append((time.time_ns(), message))
        kind = message["kind"]
        if kind == "snapshot":
            self.seen.update(message["seq"])
        elif kind in ("event", "resync"):
            self.seen[message["node_id"]] = message["seq"]


class Load:
    """Events, a log follow and requests, all along; counts what happened."""

    def __init__(self, engine: Any, client: httpx.AsyncClient, node_id: str, port: int) -> None:
        self.engine = engine
        self.client = client
        self.node = f"/api/v1/nodes/{node_id}"
        self.port = port
        self.token = str(client.headers["Authorization"]).split()[1]
        self.statuses: Counter[int] = Counter()
        self.log_lines = 0
        self.last_line_at = 0.0
        #: Set to end the churn after its current round (a cancelled round would leave its
        #: `docker run` process going, and its events would come after the test's accounting).
        self.churn_done = asyncio.Event()

    async def docker(self, *args: str) -> int:
        proc = await asyncio.create_subprocess_exec(
            "docker", "-H", self.engine.host, *args,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await proc.wait()

    async def churn(self) -> None:
        while not self.churn_done.is_set():
            name = unique_name("chaos")
            await self.docker(
                "run", "-d", "--name", name, "--label", f"{TEST_LABEL}={TEST_RUN}",
                self.engine.image, "sh", "-c", "sleep 0.2",
            )  # fmt: skip
            await self.docker("wait", name)
            await self.docker("rm", "-f", name)

    async def requests(self) -> None:
        while True:
            for path in (f"{self.node}/images", "/api/v1/containers", self.node):
                try:
                    self.statuses[(await self.client.get(path, timeout=10)).status_code] += 1
                except httpx.HTTPError:
                    self.statuses[0] += 1  # the coordinator is down: no answer at all
                    await asyncio.sleep(0.05)

    async def follow(self, ref: str) -> None:
        url = f"ws://127.0.0.1:{self.port}{self.node}/containers/{ref}/logs/ws?follow=true&tail=0"
        while True:
            try:
                async with websockets.connect(
                    url, additional_headers={"Authorization": f"Bearer {self.token}"}
                ) as ws:
                    async for raw in ws:
                        self.log_lines += len(json.loads(raw).get("lines", []))
                        self.last_line_at = time.monotonic()
            except (OSError, websockets.WebSocketException):
                pass
            await asyncio.sleep(0.1)


class EngineEvents:
    """What the engine emitted for test containers, from ``docker events``, across restarts."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.events: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.proc: asyncio.subprocess.Process | None = None

    async def run(self) -> None:
        since = f"{time.time() - 1:.3f}"
        while True:
            self.proc = await asyncio.create_subprocess_exec(
                "docker", "-H", self.engine.host, "events", "--since", since,
                "--filter", f"label={TEST_LABEL}={TEST_RUN}", "--filter", "type=container",
                "--format", "{{json .}}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert self.proc.stdout is not None
            async for line in self.proc.stdout:
                event = json.loads(line)
                if event["Action"] in STATE_ACTIONS:
                    key = (event["Actor"]["ID"], event["Action"], int(event["timeNano"]))
                    self.events[key] = event
                    since = f"{int(event['timeNano']) / 1e9:.9f}"
            await self.proc.wait()
            await asyncio.sleep(0.1)  # the engine is down: ask again soon

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


def _account(
    truth: dict[tuple[str, str, int], dict[str, Any]],
    messages: list[tuple[int, dict[str, Any]]],
    node_id: str,
) -> tuple[int, int, list[tuple[str, str, int]]]:
    """(delivered, covered by a gap notice, lost) for every engine event.

    The API promises each event, in order and once, or a notice that there was a gap: a
    ``resync`` (or a fresh ``snapshot``) of the node, or a ``sync``/``destroy`` of the container
    the node sends when it re-read its engine after an outage.
    """
    delivered: set[tuple[str, str, int]] = set()
    notices: list[tuple[int, str | None]] = []  # (arrival ns, container id or None: whole node)
    for arrived, m in messages:
        if m["kind"] == "event" and m["node_id"] == node_id and m["type"] == "container":
            delivered.add((m["actor_id"], m["action"], int(m["time_nano"])))
            # The node's own re-read after an outage: `sync`, or `destroy` with no attributes.
            if m["action"] == "sync" or (m["action"] == "destroy" and not m["attributes"]):
                notices.append((int(m["time_nano"]), m["actor_id"]))
        elif m["kind"] == "snapshot" or (m["kind"] == "resync" and m["node_id"] == node_id):
            notices.append((arrived, None))
    seen = covered = 0
    lost: list[tuple[str, str, int]] = []
    for key in sorted(truth, key=lambda k: k[2]):
        if key in delivered:
            seen += 1
        elif any(t >= key[2] and c in (None, key[0]) for t, c in notices):
            covered += 1
        else:
            lost.append(key)
    return seen, covered, lost


def _in_order(messages: list[tuple[int, dict[str, Any]]], node_id: str) -> None:
    """Within each stretch between gap notices, a node's seqs rise by one, none twice."""
    last: int | None = None
    for _, m in messages:
        if m["kind"] == "snapshot":
            last = m["seq"].get(node_id)
        elif m["kind"] == "resync" and m["node_id"] == node_id:
            last = m["seq"]
        elif m["kind"] == "event" and m["node_id"] == node_id:
            assert last is None or m["seq"] > last, f"seq {m['seq']} after {last}: repeated"
            last = m["seq"]


async def test_kill9_coordinator_node_and_engine_lose_no_event(
    coordinator: CoordinatorProcess, start_node: NodeFactory, private_engine: Any
) -> None:
    rng = random.Random(_seed())
    node = start_node([coordinator.ws_url], engine=private_engine.host)
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        printer = private_engine.docker(
            "run", "-d", "--restart=always", "--label", f"{TEST_LABEL}={TEST_RUN}",
            private_engine.image,
            "sh", "-c", "while true; do echo tick; sleep 0.05; done",
        )  # fmt: skip
        truth, events = EngineEvents(private_engine), ResumingClient(coordinator, token)
        load = Load(private_engine, client, node.node_id, coordinator.port)
        tasks = [
            asyncio.create_task(c)
            for c in (
                truth.run(),
                events.run(),
                load.churn(),
                load.requests(),
                load.follow(printer),
            )
        ]
        try:
            faults = await _chaos(rng, coordinator, node, private_engine, client)
            load.churn_done.set()  # no new events: the client can catch up with the node
            await asyncio.wait_for(tasks[2], timeout=60)
            await _caught_up(client, events, node.node_id, load, truth)
        finally:
            for task in tasks:
                task.cancel()
            truth.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            subprocess.run(
                ["docker", "-H", private_engine.host, "rm", "-f", printer],
                capture_output=True,
                check=False,
            )
            _reap(private_engine)
    seen, covered, lost = _account(truth.events, events.messages, node.node_id)
    _in_order(events.messages, node.node_id)
    _figures(
        "kill9",
        faults=faults,
        engine_events=len(truth.events),
        delivered=seen,
        covered_by_gap_notice=covered,
        events_lost=len(lost),
        client_connects=events.connects,
        log_lines=load.log_lines,
        answers=dict(load.statuses),
    )
    assert len(truth.events) > 20, "too few engine events to prove anything"
    assert not lost, f"engine events never delivered nor covered by a gap notice: {lost}"
    assert 500 not in load.statuses and all(s in (0, 200, 503) for s in load.statuses)


async def _chaos(
    rng: random.Random,
    coordinator: CoordinatorProcess,
    node: Any,
    engine: Any,
    client: httpx.AsyncClient,
) -> list[str]:
    """kill -9 the coordinator, the node and the engine, in a random order at random points."""
    faults = ["coordinator", "node", "engine"]
    rng.shuffle(faults)
    done: list[str] = []
    for fault in faults:
        await asyncio.sleep(rng.uniform(0.3, 1.5))  # chaos: a random point while load runs
        if fault == "coordinator":
            coordinator.kill()
            await asyncio.sleep(rng.uniform(0.1, 0.6))  # chaos: how long it stays down
            coordinator.start()
            await asyncio.to_thread(coordinator.wait_ready)
        elif fault == "node":
            node.kill()
            await asyncio.sleep(rng.uniform(0.1, 0.6))  # chaos: how long it stays down
            node.start()
        else:
            _kill_engine(engine)
            await asyncio.sleep(rng.uniform(0.1, 0.6))  # chaos: how long it stays down
            await asyncio.to_thread(engine.start)
        done.append(fault)
        await wait_online(client, node.node_id)
    return done


def _kill_engine(engine: Any) -> None:
    """kill -9 of dockerd and of the containerd it runs: a dockerd started again cannot use a
    containerd whose parent died (it waits for it and gives up)."""
    pid_file = engine.root / "exec" / "containerd" / "containerd.pid"
    containerd = int(pid_file.read_text()) if pid_file.exists() else None
    assert engine.proc is not None
    engine.proc.kill()
    engine.proc.wait()
    if containerd is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(containerd, signal.SIGKILL)
        _wait_dead(containerd)
    # A pid file naming a live process (a zombie, or a reused pid) makes dockerd wait for it.
    pid_file.unlink(missing_ok=True)


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"containerd {pid} still alive 10 s after SIGKILL")


def _reap(engine: Any) -> None:
    """Stop the private engine, then kill what outlived its kills under its root: container
    shims (and their containers), which no containerd of it will ever stop now."""
    engine.stop()
    parents: dict[int, int] = {}
    ours: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except (OSError, ValueError, IndexError):
            continue
        if "containerd-shim" in args and str(engine.root) in args:
            ours.append(int(entry.name))
    victims = [p for p, parent in parents.items() if parent in ours] + ours
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # A dockerd started again over a killed one mounts its data dir once more; the clean stop
    # undoes only the last mount, and the private engine's directory could not be removed.
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{engine.root}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


async def _caught_up(
    client: httpx.AsyncClient,
    events: ResumingClient,
    node_id: str,
    load: Load,
    truth: EngineEvents,
) -> None:
    """The node online with its engine, the client at the node's seq, log lines flowing, and
    every engine event seen so far delivered or covered (the node may still be forwarding the
    last ones when the coordinator's seq already matches the client's)."""
    lines = load.log_lines

    async def settled() -> bool:
        info = (await client.get(f"/api/v1/nodes/{node_id}")).json()
        return bool(
            info["status"] == "online"
            and info["engine"]["available"]
            and events.seen.get(node_id) == info["seq"]
            and load.log_lines > lines
            and not _account(truth.events, events.messages, node_id)[2]
        )

    await eventually(settled, timeout=30, what="the event client caught up and logs flowing")
