"""Crashes and outages: coordinator kill -9 with resume, engine restart, offline nodes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from docklord.testing import CoordinatorProcess, eventually, free_port

from .conftest import NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e


async def test_resume_with_since_seq_after_coordinator_kill9(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
    docker: Callable[..., str],
    open_events: Callable[..., Any],
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
    stream = await open_events(coordinator, token)
    snapshot = await stream.next()
    seen = dict(snapshot["seq"])
    first = labelled_container("sleep", "60")
    started = await stream.until(
        lambda m: (
            m["kind"] == "event"
            and m["action"] == "start"
            and (m.get("container") or {}).get("name") == first
        )
    )
    seen[node.node_id] = started["seq"]
    # Drain what else arrived (network events of the same start) to know the last seq seen.
    while True:
        try:
            message = await stream.next(wait=0.5)
        except TimeoutError:
            break
        if message["kind"] == "event" and message["node_id"] == node.node_id:
            seen[node.node_id] = message["seq"]
    await stream.ws.close()

    coordinator.kill()
    # Changes while the coordinator is down: the node journals them.
    docker("stop", "-t", "0", first)
    second = labelled_container("sh", "-c", "exit 4")
    docker("wait", second)
    coordinator.start()
    coordinator.wait_ready()
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)

    since = json.dumps(seen)
    resumed = await open_events(coordinator, token, since_seq=since)
    events: list[dict[str, Any]] = []
    while True:
        try:
            message = await resumed.next(wait=1.5)
        except TimeoutError:
            break
        assert message["kind"] == "event", f"expected no snapshot on resume, got {message}"
        events.append(message)
    seqs = [e["seq"] for e in events if e["node_id"] == node.node_id]
    assert seqs, "no events replayed"
    assert seqs[0] == seen[node.node_id] + 1, "a gap between the last seen and the first resumed"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "events missing or repeated"
    by_name = [(e["action"], (e.get("container") or {}).get("name")) for e in events]
    assert ("die", first) in by_name
    assert ("start", second) in by_name and ("die", second) in by_name
    died = next(e for e in events if e["action"] == "die" and e["container"]["name"] == second)
    assert died["container"]["exit_code"] == 4


async def test_offline_node_answers_503_at_once(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        node.kill()

        async def offline() -> bool:
            info = (await client.get(f"/api/v1/nodes/{node.node_id}")).json()
            return bool(info["status"] == "offline")

        await eventually(offline, timeout=8, what="node marked offline")
        started = time.monotonic()
        response = await client.get(f"/api/v1/nodes/{node.node_id}/containers")
        assert time.monotonic() - started < 0.5
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "node_offline" and node.node_id in error["message"]
        legacy = await client.get(
            "/api/containers", params={"node_id": node.node_id, "password": node.password}
        )
        assert legacy.status_code == 503
        unknown = await client.get("/api/v1/nodes/no-such-node")
        assert unknown.status_code == 404


async def test_nodes_reconnect_by_themselves_after_coordinator_restart(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    ws_node = start_node([coordinator.ws_url])
    grpc_node = start_node([coordinator.grpc_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, ws_node.node_id, grpc_node.node_id)
    coordinator.kill()
    coordinator.start()
    coordinator.wait_ready()
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, ws_node.node_id, grpc_node.node_id)
        rows = (await client.get("/api/v1/containers")).json()
        assert {c["node_id"] for c in rows["containers"]} <= {ws_node.node_id, grpc_node.node_id}


async def test_node_recovers_after_its_engine_restarts(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    private_engine: Any,
) -> None:
    node = start_node([coordinator.ws_url], engine=private_engine.host)
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        before = private_engine.create()

        async def engine_state(available: bool, container: str | None) -> bool:
            info = (await client.get(f"/api/v1/nodes/{node.node_id}")).json()
            if info["engine"]["available"] is not available:
                return False
            if container is None:
                return True
            rows = (await client.get(f"/api/v1/nodes/{node.node_id}/containers")).json()
            return any(c["id"] == container for c in rows["containers"])

        await eventually(lambda: engine_state(True, before), what="container listed")
        private_engine.stop()
        await eventually(lambda: engine_state(False, None), what="engine reported down")
        private_engine.start()
        private_engine.docker("rm", before)
        after = private_engine.create()
        await eventually(lambda: engine_state(True, after), timeout=20, what="view re-synced")
        rows = (await client.get(f"/api/v1/nodes/{node.node_id}/containers")).json()
        assert before not in {c["id"] for c in rows["containers"]}


async def test_node_tries_each_coordinator_url_in_turn(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    node = start_node([dead, coordinator.grpc_url])
    async with api(coordinator, coordinator.login()) as client:
        await wait_online(client, node.node_id)
    assert "link down" in node.log() and dead in node.log()
