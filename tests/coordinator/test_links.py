"""The link manager (``docklord.coordinator._links``) with nodes linked in memory, in process.

Accepting a node, a second link under the same id, and a revocation that drops the live link:
reached before only by real node processes against a real coordinator.
"""

from __future__ import annotations

import asyncio

import pytest

from docklord import __version__
from docklord.coordinator import NodeStatus
from docklord.errors import HandshakeRejected, LinkClosed
from docklord.protocol import PROTOCOL_VERSION
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import InProcessFleet, SimulatedNode, eventually
from docklord.testing._inprocess import FAST_LINKS, NODE_SECRET


def _hello(node_id: str, proof: str = NODE_SECRET, seq: int = 1) -> pb.Envelope:
    hello = pb.Hello(
        node_id=node_id,
        proof=proof,
        agent_version=__version__,
        protocol_version=PROTOCOL_VERSION,
        hostname="raw",
        seq=seq,
    )
    return pb.Envelope(hello=hello)


async def test_a_node_is_welcomed_with_the_keepalive_and_the_seq_it_is_known_by() -> None:
    async with InProcessFleet(nodes=1, containers=2) as fleet:
        known = fleet.nodes[0].seq
        await fleet.stop_node("node-1")

        async def offline() -> bool:
            return fleet.coordinator.fleet.nodes["node-1"].status is NodeStatus.OFFLINE

        await eventually(offline, what="node-1 offline")
        transport = await fleet.connect()
        await transport.send(_hello("node-1"))
        reply = await asyncio.wait_for(transport.receive(), 5)
        assert reply.WhichOneof("body") == "welcome", reply
        assert reply.welcome.known_seq == known  # what the node would catch it up from
        assert reply.welcome.ping_interval_ms == int(FAST_LINKS.ping_interval * 1000)
        assert reply.welcome.coordinator_id == fleet.coordinator.coordinator_id
        assert not reply.welcome.assigned_node_id and not reply.welcome.assigned_password
        assert fleet.coordinator.fleet.nodes["node-1"].status is NodeStatus.CONNECTING
        await transport.close()


async def test_a_second_link_under_the_same_id_replaces_the_first() -> None:
    async with InProcessFleet(nodes=1, containers=2) as fleet:
        first = fleet.run_of("node-1")
        old_session = fleet.coordinator.fleet.online_session("node-1")
        second = SimulatedNode("", "node-1", NODE_SECRET, containers=7, connect=fleet.connect)
        task = asyncio.create_task(second.run())
        try:
            await asyncio.wait_for(second.linked.wait(), 5)
            with pytest.raises(LinkClosed):  # the coordinator closed the older link
                await asyncio.wait_for(asyncio.shield(first), 5)
            assert old_session.closed

            async def replaced() -> bool:
                state = fleet.coordinator.fleet.nodes["node-1"]
                return state.status is NodeStatus.ONLINE and len(state.containers) == 7

            await eventually(replaced, what="node-1 online with the second link's containers")
            assert fleet.coordinator.fleet.online_session("node-1") is not old_session
            assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_second_link_with_a_wrong_secret_leaves_the_first_alone() -> None:
    async with InProcessFleet(nodes=1, containers=2) as fleet:
        session = fleet.coordinator.fleet.online_session("node-1")
        impostor = SimulatedNode("", "node-1", "w" * 43, connect=fleet.connect)
        with pytest.raises(HandshakeRejected) as rejected:
            await asyncio.wait_for(impostor.run(), 5)
        assert rejected.value.reason == "bad_credentials"
        assert fleet.coordinator.fleet.online_session("node-1") is session
        assert not session.closed and not fleet.run_of("node-1").done()


async def test_revoking_a_node_drops_its_link_and_refuses_it_after() -> None:
    async with InProcessFleet(nodes=2, containers=2) as fleet:
        run = fleet.run_of("node-1")
        revoked = await fleet.http.delete("/api/v1/nodes/node-1")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json() == {"node_id": "node-1", "status": "revoked"}
        with pytest.raises(LinkClosed):  # the link closed under the node
            await asyncio.wait_for(asyncio.shield(run), 5)
        assert "node-1" not in fleet.coordinator.fleet.nodes
        nodes = (await fleet.http.get("/api/v1/nodes")).json()["nodes"]
        assert [n["node_id"] for n in nodes] == ["node-2"]
        again = SimulatedNode("", "node-1", NODE_SECRET, connect=fleet.connect)
        with pytest.raises(HandshakeRejected) as rejected:
            await asyncio.wait_for(again.run(), 5)
        assert rejected.value.reason == "revoked"
        assert fleet.coordinator.fleet.online_session("node-2") is not None
