"""The fleet cache, through the API and the events socket, with simulated nodes (in process).

What e2e reached only over real processes: the snapshot a list is served from, an event
reaching the list and the socket, a client resuming by seq, a resync, a node going offline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from docklord.testing import AsgiWebSocket, InProcessFleet, eventually

EVENTS = "/api/v1/events/ws"


async def _next(ws: AsgiWebSocket, kind: str) -> dict[str, Any]:
    """The next message of ``kind``, skipping the others (node status, engine...)."""
    while True:
        message = await ws.receive_json()
        if message["kind"] == kind:
            return message


async def test_lists_and_the_first_message_are_the_snapshot_of_every_node() -> None:
    async with InProcessFleet(nodes=3, containers=10) as fleet:
        listed = await fleet.http.get("/api/v1/containers")
        assert listed.status_code == 200, listed.text
        rows = listed.json()["containers"]
        assert len(rows) == 30
        assert {r["node_id"] for r in rows} == {"node-1", "node-2", "node-3"}
        nodes = (await fleet.http.get("/api/v1/nodes")).json()["nodes"]
        assert sorted((n["node_id"], n["status"], n["containers"]["total"]) for n in nodes) == [
            ("node-1", "online", 10),
            ("node-2", "online", 10),
            ("node-3", "online", 10),
        ]
        async with fleet.websocket(EVENTS) as ws:
            first = await ws.receive_json()
        assert first["kind"] == "snapshot"
        assert len(first["containers"]) == 30
        assert first["seq"] == {n.node_id: n.seq for n in fleet.nodes}


async def test_an_event_changes_the_list_and_reaches_the_socket() -> None:
    async with InProcessFleet(nodes=2, containers=5) as fleet:
        async with fleet.websocket(EVENTS) as ws:
            await _next(ws, "snapshot")
            changed = fleet.nodes[1].emit()
            event = await _next(ws, "event")
            assert (event["node_id"], event["actor_id"]) == ("node-2", changed.id)
            assert event["seq"] == fleet.nodes[1].seq
            assert event["container"]["state"] == changed.state == "paused"
        listed = await fleet.http.get("/api/v1/containers", params={"node": "node-2"})
        rows = {r["id"]: r for r in listed.json()["containers"]}
        assert rows[changed.id]["state"] == "paused"


async def test_a_client_resumes_by_seq_with_only_the_events_it_missed() -> None:
    async with InProcessFleet(nodes=2, containers=5) as fleet:
        node = fleet.nodes[0]
        async with fleet.websocket(EVENTS) as ws:
            seen = (await _next(ws, "snapshot"))["seq"]
        missed = [node.emit().id for _ in range(3)]

        async def applied() -> bool:
            return fleet.coordinator.fleet.nodes["node-1"].seq == node.seq

        await eventually(applied, what="the three events applied")
        since = ",".join(f"{n}:{s}" for n, s in seen.items())
        async with fleet.websocket(EVENTS, since_seq=since) as ws:
            backlog = [await ws.receive_json() for _ in missed]
            assert [m["kind"] for m in backlog] == ["event"] * 3
            assert [m["actor_id"] for m in backlog] == missed
            assert [m["seq"] for m in backlog] == [seen["node-1"] + i for i in (1, 2, 3)]
            node.emit()
            live = await ws.receive_json()  # no snapshot came between the backlog and this
            assert (live["kind"], live["seq"]) == ("event", node.seq)


async def test_a_seq_the_journal_cannot_cover_gets_a_snapshot() -> None:
    async with InProcessFleet(nodes=1, containers=4) as fleet:
        before_this_node_started = fleet.nodes[0].base_seq - 1
        async with fleet.websocket(EVENTS, since_seq=f"node-1:{before_this_node_started}") as ws:
            first = await ws.receive_json()
        assert first["kind"] == "snapshot"
        assert len(first["containers"]) == 4


async def test_a_client_resuming_a_node_that_restarted_gets_a_resync() -> None:
    async with InProcessFleet(nodes=1, containers=3) as fleet:
        old_seq = fleet.nodes[0].seq
        await fleet.stop_node("node-1")

        async def offline() -> bool:
            return fleet.coordinator.fleet.nodes["node-1"].status == "offline"

        await eventually(offline, what="node-1 offline")
        async with fleet.websocket(EVENTS, since_seq=f"node-1:{old_seq}") as ws:
            # A restarted node numbers its events from its new start: the old seq is a gap.
            restarted = await fleet.add_node("node-1", containers=6)
            resync = await _next(ws, "resync")
            assert resync["node_id"] == "node-1"
            assert resync["seq"] == restarted.seq
            assert sorted(c["id"] for c in resync["containers"]) == sorted(
                c.id for c in restarted.containers
            )


async def test_a_cut_link_takes_the_node_offline_and_its_containers_out_of_the_list() -> None:
    async with InProcessFleet(nodes=2, containers=5) as fleet:
        async with fleet.websocket(EVENTS) as ws:
            await _next(ws, "snapshot")
            await fleet.cut("node-2")
            status = await _next(ws, "node")
            assert (status["node_id"], status["status"]) == ("node-2", "offline")
        nodes = {n["node_id"]: n for n in (await fleet.http.get("/api/v1/nodes")).json()["nodes"]}
        assert nodes["node-2"]["status"] == "offline"
        assert nodes["node-2"]["last_seen"] is not None
        assert nodes["node-1"]["status"] == "online"
        rows = (await fleet.http.get("/api/v1/containers")).json()["containers"]
        assert {r["node_id"] for r in rows} == {"node-1"}
        cid = fleet.nodes[1].containers[0].id
        offline = await fleet.http.get(f"/api/v1/nodes/node-2/containers/{cid}")
        assert offline.status_code == 503, offline.text
        assert offline.json()["error"]["code"] == "node_offline"


async def test_events_sockets_that_closed_leave_no_client_and_no_task_behind() -> None:
    """A guard for the soak's finding (docs/RELIABILITY.md, Soak): what a socket registers
    while it is open (its subscriber, its live-socket entry, its tasks) goes when it closes."""
    async with InProcessFleet(nodes=1, containers=3) as fleet:
        node = fleet.nodes[0]
        async with fleet.websocket(EVENTS) as ws:
            await _next(ws, "snapshot")
            opened = (await fleet.http.get("/metrics")).text
        assert 'docklord_websocket_clients{kind="events"} 1.0' in opened
        tasks = len(asyncio.all_tasks())
        for _ in range(20):
            async with fleet.websocket(EVENTS) as ws:
                await _next(ws, "snapshot")
            async with fleet.websocket(EVENTS, since_seq=f"node-1:{node.seq}") as ws:
                node.emit()
                await _next(ws, "event")
        metrics = (await fleet.http.get("/metrics")).text
        assert "docklord_websocket_clients{" not in metrics
        assert not fleet.coordinator.fleet._subscribers

        async def settled() -> bool:
            return len(asyncio.all_tasks()) <= tasks

        await eventually(settled, what="the sockets' tasks ended")
