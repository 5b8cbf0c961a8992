"""The node agent links again after its link is cut, and catches the coordinator up (in
process): from its journal by seq when it covers the gap, with a snapshot when it does not.

A real :class:`NodeAgent` (watcher, journal, link loop) runs on a :class:`ScriptedEngine`
against an :class:`InProcessFleet`; what the coordinator received is read from its events
socket, where a catch-up shows as the missed events and a snapshot as a ``resync``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docklord.config import NodeConfig
from docklord.errors import LinkClosed
from docklord.link import Transport
from docklord.node import NodeAgent
from docklord.protocol import EventJournal
from docklord.testing import AsgiWebSocket, InProcessFleet, ScriptedEngine, eventually

EVENTS = "/api/v1/events/ws"
SECRET = "relink-secret-".ljust(43, "r")


@dataclass
class Relinking:
    fleet: InProcessFleet
    agent: NodeAgent
    engine: ScriptedEngine
    network: asyncio.Event  # cleared: every dial fails, as with the network down
    dials: list[int]


@pytest.fixture
async def relinking(tmp_path: Path) -> AsyncIterator[Relinking]:
    async with InProcessFleet(nodes=0) as fleet:
        network = asyncio.Event()
        network.set()
        dials: list[int] = []

        async def dial(url: str) -> Transport:
            dials.append(1)
            if not network.is_set():
                raise LinkClosed("network down")
            return await fleet.connect()

        connect: Callable[[str], Awaitable[Transport]] = dial
        engine = ScriptedEngine()
        for i in range(3):
            engine.add(f"before-{i}")
        config = NodeConfig(
            coordinator=("ws://in-process",),
            node_id="agent-1",
            password=SECRET,
            state_dir=str(tmp_path),
            stats_interval=0,
        )
        agent = NodeAgent(config, engine=engine, connect=connect)
        run = asyncio.create_task(agent.run())
        try:
            await fleet.wait_online("agent-1")
            await eventually(lambda: _true(engine.watched), what="the watcher following events")
            yield Relinking(fleet, agent, engine, network, dials)
        finally:
            agent.shutdown(grace=1)
            await asyncio.wait_for(run, 5)


async def _true(value: bool) -> bool:
    return value


async def _next(ws: AsgiWebSocket, *kinds: str) -> dict[str, Any]:
    while True:
        message = await ws.receive_json()
        if message["kind"] in kinds:
            return message


async def _cut_and_change(r: Relinking, changes: int) -> list[str]:
    """Cut the link, make ``changes`` containers while no link can be made, then reconnect."""
    r.network.clear()
    await r.fleet.cut("agent-1")
    made = [r.engine.add(f"during-{i}").id for i in range(changes)]
    seq = r.agent.watcher.seq

    async def journaled() -> bool:
        return r.agent.watcher.seq == seq + changes and not r.agent.connected.is_set()

    await eventually(journaled, what="the changes journaled while the link is down")
    dials = len(r.dials)
    await eventually(lambda: _true(len(r.dials) > dials), what="a dial refused while down")
    r.network.set()
    return made


async def test_a_cut_link_is_made_again_and_caught_up_from_the_journal(
    relinking: Relinking,
) -> None:
    r = relinking
    async with r.fleet.websocket(EVENTS) as ws:
        before = (await _next(ws, "snapshot"))["seq"]["agent-1"]
        made = await _cut_and_change(r, 4)
        offline = await _next(ws, "node")
        assert offline["status"] == "offline"
        online = await _next(ws, "node", "resync")
        assert (online["kind"], online["status"]) == ("node", "online")
        caught_up = [await _next(ws, "event", "resync") for _ in made]
        live = r.engine.add("after")
        after = await _next(ws, "event", "resync")  # live again: nothing repeated before it
        assert (after["kind"], after["actor_id"], after["seq"]) == ("event", live.id, before + 5)
    # Only the missed events, in order, numbered on from what the coordinator had: no snapshot.
    assert [m["kind"] for m in caught_up] == ["event"] * 4
    assert [m["actor_id"] for m in caught_up] == made
    assert [m["seq"] for m in caught_up] == [before + i for i in range(1, 5)]
    listed = await r.fleet.http.get("/api/v1/containers", params={"node": "agent-1"})
    names = sorted(c["name"] for c in listed.json()["containers"])
    made_names = [f"before-{i}" for i in range(3)] + [f"during-{i}" for i in range(4)]
    assert names == sorted([*made_names, "after"])


async def test_a_gap_the_journal_cannot_cover_is_filled_by_a_snapshot(relinking: Relinking) -> None:
    r = relinking
    # Two events kept: four made during the cut leave a gap only a snapshot can fill.
    r.agent.watcher.journal = EventJournal(2)
    async with r.fleet.websocket(EVENTS) as ws:
        await _next(ws, "snapshot")
        made = await _cut_and_change(r, 4)
        resync = await _next(ws, "resync", "event")
    assert resync["kind"] == "resync" and resync["node_id"] == "agent-1"
    assert resync["seq"] == r.agent.watcher.seq
    assert {c["id"] for c in resync["containers"]} == set(r.engine.containers)
    assert set(made) <= {c["id"] for c in resync["containers"]}
