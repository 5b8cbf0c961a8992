"""``GET /api/v1/events``: the fleet's recent events from the per-node journals, in process.

The newest events across the nodes a caller sees, oldest first by time, as the events socket
sends them; with a socket opened first, the two together hold every event once.
"""

from __future__ import annotations

from typing import Any

from docklord.testing import InProcessFleet, eventually

EVENTS = "/api/v1/events"


async def _applied(fleet: InProcessFleet) -> None:
    async def done() -> bool:
        return all(fleet.coordinator.fleet.nodes[n.node_id].seq == n.seq for n in fleet.nodes)

    await eventually(done, what="every emitted event applied")


async def test_recent_events_merge_the_nodes_by_time_and_end_at_each_nodes_seq() -> None:
    async with InProcessFleet(nodes=3, containers=4) as fleet:
        emitted = [fleet.nodes[i % 3].emit().id for i in range(12)]
        await _applied(fleet)
        answer = await fleet.http.get(EVENTS)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        events = body["events"]
        assert [e["actor_id"] for e in events] == emitted  # emitted one after another
        assert {e["kind"] for e in events} == {"event"}
        times = [e["time_nano"] for e in events]
        assert times == sorted(times)
        assert body["seq"] == {n.node_id: n.seq for n in fleet.nodes}
        assert events[-1]["container"]["id"] == emitted[-1]

        newest = (await fleet.http.get(EVENTS, params={"limit": 5})).json()["events"]
        assert [e["actor_id"] for e in newest] == emitted[-5:]


async def test_limit_is_bounded_and_checked() -> None:
    async with InProcessFleet(nodes=1, containers=2) as fleet:
        for bad in ("0", "1001", "many"):
            answer = await fleet.http.get(EVENTS, params={"limit": bad})
            assert answer.status_code == 422, (bad, answer.text)
            assert answer.json()["error"]["code"] == "invalid_input"
        assert (await fleet.http.get(EVENTS, params={"limit": "1000"})).status_code == 200


async def test_a_user_sees_only_the_events_of_the_nodes_granted() -> None:
    async with InProcessFleet(nodes=2, containers=3) as fleet:
        store = fleet.coordinator.store
        user = await store.create_user("granted", "granted-password-1", "viewer", ["node-2"])
        _, token = await store.create_token(user.id, "t")
        fleet.nodes[0].emit()
        mine = fleet.nodes[1].emit().id
        await _applied(fleet)
        answer = await fleet.http.get(EVENTS, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [(e["node_id"], e["actor_id"]) for e in body["events"]] == [("node-2", mine)]
        assert set(body["seq"]) == {"node-2"}
        anonymous = await fleet.http.get(EVENTS, headers={"Authorization": "Bearer nope"})
        assert anonymous.status_code == 401


async def test_history_then_the_socket_hold_every_event_once() -> None:
    async with InProcessFleet(nodes=2, containers=3) as fleet:
        before = [fleet.nodes[i % 2].emit().id for i in range(4)]
        await _applied(fleet)
        async with fleet.websocket("/api/v1/events/ws") as ws:
            first = await ws.receive_json()
            assert first["kind"] == "snapshot"
            history = (await fleet.http.get(EVENTS)).json()
            after = [fleet.nodes[i % 2].emit().id for i in range(4)]
            live: list[dict[str, Any]] = []
            while len(live) < len(after):
                message = await ws.receive_json()
                if message["kind"] == "event":
                    live.append(message)
        keys = [(e["node_id"], e["seq"]) for e in history["events"] + live]
        assert len(keys) == len(set(keys))  # none twice
        assert [e["actor_id"] for e in history["events"]] == before
        assert sorted(e["actor_id"] for e in live) == sorted(after)  # in order per node only
        # No gap: each node's live events follow on from the seq the history ended at.
        for node_id, seq in history["seq"].items():
            mine = [e["seq"] for e in live if e["node_id"] == node_id]
            assert mine == list(range(seq + 1, seq + 1 + len(mine)))
