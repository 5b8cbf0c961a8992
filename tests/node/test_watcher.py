"""The watcher outlives what it cannot read and whatever fails while it applies an event."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from docklord.engine import Engine
from docklord.errors import NotFound
from docklord.model import OVERSIZED_EVENT, ContainerSummary, EngineEvent, EngineInfo
from docklord.node._watcher import Watcher
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import eventually


class FakeEngine:
    """Just what the watcher calls; the test scripts the event stream through a queue."""

    address = "fake://engine"

    def __init__(self) -> None:
        self.containers: dict[str, ContainerSummary] = {}
        self.queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self.fail_next_summary = False

    async def info(self) -> EngineInfo:
        return EngineInfo("x", "1.41", "1.12", "linux", "amd64", "6", "fake", 0, 0)

    async def list_containers(self, *, all: bool) -> list[ContainerSummary]:
        return list(self.containers.values())

    async def get_summary(self, ref: str) -> ContainerSummary:
        if self.fail_next_summary:
            self.fail_next_summary = False
            raise RuntimeError("a bug while reading one container")
        if ref not in self.containers:
            raise NotFound(ref)
        return self.containers[ref]

    async def events(self, *, since: float | None = None) -> AsyncIterator[EngineEvent]:
        while True:
            yield await self.queue.get()


def _summary(cid: str) -> ContainerSummary:
    return ContainerSummary(id=cid, name=f"n-{cid}", image="img")


@pytest.fixture
async def watched() -> AsyncIterator[tuple[FakeEngine, Watcher, list[pb.Event]]]:
    engine = FakeEngine()
    watcher = Watcher(cast(Engine, engine))
    seen: list[pb.Event] = []
    watcher.subscribe(lambda item: seen.append(item) if isinstance(item, pb.Event) else None)
    task = asyncio.create_task(watcher.run())
    await asyncio.wait_for(watcher.synced.wait(), 5)
    yield engine, watcher, seen
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _create(cid: str) -> EngineEvent:
    return EngineEvent("container", "create", cid)


async def test_a_skipped_event_is_caught_up_by_a_resync(
    watched: tuple[FakeEngine, Watcher, list[pb.Event]],
) -> None:
    engine, watcher, seen = watched
    # The engine layer could not read the create of c1 (too long): the watcher re-reads.
    engine.containers["c1"] = _summary("c1")
    await engine.queue.put(EngineEvent(OVERSIZED_EVENT, "skipped", "", {"bytes": "9000000"}))

    async def synced() -> bool:
        return bool(seen)

    await eventually(synced, timeout=5, what="c1 synced")
    engine.containers["c2"] = _summary("c2")
    await engine.queue.put(_create("c2"))

    async def both() -> bool:
        return len(seen) == 2

    await eventually(both, timeout=5, what="c2 created")
    assert [(e.action, e.actor_id) for e in seen] == [("sync", "c1"), ("create", "c2")]
    assert [e.seq for e in seen] == [watcher.base_seq + 1, watcher.base_seq + 2]
    assert set(watcher.containers) == {"c1", "c2"}


async def test_a_failing_event_or_listener_does_not_end_the_watcher(
    watched: tuple[FakeEngine, Watcher, list[pb.Event]],
) -> None:
    engine, watcher, seen = watched

    def broken(item: Any) -> None:
        raise ValueError("a listener's bug")

    watcher.subscribe(broken)
    engine.containers["c1"] = _summary("c1")
    engine.fail_next_summary = True
    await engine.queue.put(_create("c1"))  # fails while applied
    engine.containers["c2"] = _summary("c2")
    await engine.queue.put(_create("c2"))  # the broken listener raises for it

    async def delivered() -> bool:
        return any(e.actor_id == "c2" for e in seen)

    await eventually(delivered, timeout=5, what="c2 delivered after the failures")
    assert watcher.journal.last(1)[0].actor_id == "c2"


async def test_a_death_is_read_again_for_the_restart_policy_state_and_count(
    watched: tuple[FakeEngine, Watcher, list[pb.Event]],
) -> None:
    engine, watcher, seen = watched
    running = ContainerSummary(id="c1", name="n-c1", image="img", state="running", started_at=1.0)
    engine.containers["c1"] = running
    await engine.queue.put(_create("c1"))
    await eventually(lambda: _count(seen, 1), what="the create")
    # The engine counts the restart and marks the container restarting before its ``die``.
    engine.containers["c1"] = dataclasses.replace(running, state="restarting", restart_count=1)
    await engine.queue.put(EngineEvent("container", "die", "c1", {"exitCode": "1"}))

    async def read_again() -> bool:
        return [e.action for e in seen] == ["create", "die", "sync"]

    await eventually(read_again, what="the die, then a sync with the engine's view")
    assert (seen[1].container.state, seen[1].container.restart_count) == ("exited", 0)
    assert (seen[2].container.state, seen[2].container.restart_count) == ("restarting", 1)
    assert watcher.containers["c1"].restart_count == 1
    # Stopped for good: the inspect agrees with the derived die, so no sync follows.
    engine.containers["c1"] = dataclasses.replace(running, state="exited", restart_count=1)
    await engine.queue.put(EngineEvent("container", "start", "c1"))
    await engine.queue.put(EngineEvent("container", "die", "c1", {"exitCode": "1"}))
    await engine.queue.put(_create("c2"))
    await eventually(lambda: _count(seen, 5), what="the start, die and the next create")
    assert [e.action for e in seen[3:]] == ["start", "die", "create"]
    assert seen[4].container.restart_count == 1


async def _count(seen: list[pb.Event], n: int) -> bool:
    return len(seen) >= n
