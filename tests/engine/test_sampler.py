"""The node's sampler over the real engine: containers are picked up from events, one batch per
interval, and the engine's container list is read once (the watcher's sync), never polled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from docklord.engine import Engine
from docklord.node import Watcher
from docklord.node._sampler import Sampler
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import eventually

from ._support import MakeContainer

BUSY = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]


@asynccontextmanager
async def sampling(engine: Engine, interval: float) -> AsyncIterator[tuple[Sampler, list[Any]]]:
    watcher = Watcher(engine)
    sampler = Sampler(engine, watcher, interval=interval)
    batches: list[pb.StatsBatch] = []

    async def send(envelope: pb.Envelope) -> None:
        batches.append(envelope.stats)

    async with asyncio.TaskGroup() as tasks:
        running = [
            tasks.create_task(watcher.run()),
            tasks.create_task(sampler.run()),
            tasks.create_task(sampler.forward(send)),
        ]
        await asyncio.wait_for(watcher.synced.wait(), 20)
        try:
            yield sampler, batches
        finally:
            for task in running:
                task.cancel()


def ids(batch: pb.StatsBatch) -> set[str]:
    return {c.id for c in batch.containers}


async def test_a_started_container_is_sampled_and_a_stopped_one_dropped_without_polling(
    engine: Engine, make_container: MakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings = 0
    original = engine.list_containers

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal listings
        listings += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(engine, "list_containers", counting)
    async with sampling(engine, 0.5) as (sampler, batches):
        ref = await make_container(BUSY)

        async def sampled() -> bool:
            return any(ref in ids(b) for b in batches)

        await eventually(sampled, timeout=15, what="the new container in a batch")
        mine = next(c for b in reversed(batches) for c in b.containers if c.id == ref)
        assert mine.cpu_percent > 0 and mine.cpu_time > 0 and mine.memory_total_usage > 0
        assert batches[-1].interval == 0.5
        await engine.stop(ref, timeout=1)

        async def dropped() -> bool:
            return ref not in sampler.following and bool(batches) and ref not in ids(batches[-1])

        await eventually(dropped, timeout=15, what="the stopped container out of the batches")
        count = len(batches)

        async def still_batching() -> bool:
            # Batches keep coming (empty of it) while nothing reads the container list.
            return len(batches) >= count + 2 and ref not in ids(batches[-1])

        await eventually(still_batching, timeout=5, what="more batches")
    assert listings == 1, "only the watcher's first sync lists containers"


async def test_interval_zero_turns_sampling_off(engine: Engine) -> None:
    sampler = Sampler(engine, Watcher(engine), interval=0)
    await asyncio.wait_for(sampler.run(), 1)  # returns at once, never waits for the engine
    assert sampler.following == frozenset()
