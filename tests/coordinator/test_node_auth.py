"""Node authentication at the link (in process): a pre-registered secret, a one-time
enrollment token, and the secrets that are refused. Before, only node processes reached it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from docklord import __version__
from docklord.config import NodeConfig
from docklord.errors import HandshakeRejected
from docklord.node import NodeAgent
from docklord.protocol import PROTOCOL_VERSION
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import InProcessFleet, ScriptedEngine, SimulatedNode, eventually


async def _preregister(fleet: InProcessFleet, **body: object) -> dict[str, str]:
    response = await fleet.http.post("/api/v1/nodes", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _reject_reason(fleet: InProcessFleet, hello: pb.Hello) -> str:
    hello.agent_version, hello.protocol_version = __version__, PROTOCOL_VERSION
    transport = await fleet.connect()
    await transport.send(pb.Envelope(hello=hello))
    reply = await asyncio.wait_for(transport.receive(), 5)
    await transport.close()
    assert reply.WhichOneof("body") == "reject", reply
    return reply.reject.reason


async def test_a_preregistered_secret_links_and_a_wrong_one_is_refused() -> None:
    async with InProcessFleet(nodes=0, registration="enroll") as fleet:
        answer = await _preregister(fleet, mode="secret", node_id="pre-1", name="Pre one")
        wrong = SimulatedNode("", "pre-1", answer["password"][::-1], connect=fleet.connect)
        with pytest.raises(HandshakeRejected) as rejected:
            await asyncio.wait_for(wrong.run(), 5)
        assert rejected.value.reason == "bad_credentials"
        assert str(answer["password"]) not in str(rejected.value)
        assert fleet.coordinator.fleet.nodes["pre-1"].status == "offline"

        node = await fleet.add_node("pre-1", containers=3, password=answer["password"])
        row = (await fleet.http.get("/api/v1/nodes")).json()["nodes"][0]
        assert (row["node_id"], row["name"], row["status"]) == ("pre-1", "Pre one", "online")
        assert row["containers"]["total"] == len(node.containers) == 3


async def test_an_unknown_node_is_refused_when_registration_is_enroll() -> None:
    async with InProcessFleet(nodes=0, registration="enroll") as fleet:
        stranger = SimulatedNode("", "stranger", "s" * 43, connect=fleet.connect)
        with pytest.raises(HandshakeRejected) as rejected:
            await asyncio.wait_for(stranger.run(), 5)
        assert rejected.value.reason == "bad_credentials"
        assert "register it first" in str(rejected.value)
        assert await fleet.coordinator.store.list_nodes() == []


async def test_open_registration_keeps_the_first_secret() -> None:
    async with InProcessFleet(nodes=1, containers=1) as fleet:
        reason = await _reject_reason(fleet, pb.Hello(node_id="node-1", proof="x" * 43))
        assert reason == "bad_credentials"
        assert not fleet.run_of("node-1").done()


async def test_an_enrollment_token_gives_a_node_its_identity_once(tmp_path: Path) -> None:
    async with InProcessFleet(nodes=0, registration="enroll") as fleet:
        answer = await _preregister(fleet, mode="token", node_id="tok-1", name="Token node")
        token = answer["enroll_token"]
        config = NodeConfig(
            coordinator=("ws://in-process",),
            enroll_token=token,
            state_dir=str(tmp_path),
            stats_interval=0,
        )
        engine = ScriptedEngine()
        agent = NodeAgent(config, engine=engine, connect=fleet.connector(), announce=print)
        run = asyncio.create_task(agent.run())
        try:
            await fleet.wait_online("tok-1")
            assert agent.identity is not None and agent.identity.node_id == "tok-1"
            stored = json.loads((tmp_path / "node.json").read_text())
            assert stored["node_id"] == "tok-1" and stored["password"] == agent.identity.password
            row = (await fleet.http.get("/api/v1/nodes")).json()["nodes"][0]
            assert (row["node_id"], row["name"], row["status"]) == ("tok-1", "Token node", "online")

            # Used once: the same token enrolls nothing more.
            assert await _reject_reason(fleet, pb.Hello(enroll_token=token)) == "bad_credentials"
            nodes = await fleet.coordinator.store.list_nodes()
            assert [n.node_id for n in nodes] == ["tok-1"]
        finally:
            agent.shutdown(grace=1)
            await asyncio.wait_for(run, 5)

        async def offline() -> bool:
            return fleet.coordinator.fleet.nodes["tok-1"].status == "offline"

        await eventually(offline, what="tok-1 offline after its shutdown")
