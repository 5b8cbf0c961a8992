"""Resource sampling of every running container, batched once per interval for the link.

Why one streaming subscription per running container: on Docker 20.10 a one-shot
``GET /containers/{id}/stats?stream=false`` waits for the engine's next collection cycle
(measured: 1.0-2.0 s per request, and ``one-shot=true`` still 1.0 s), so polling 100
containers every 5 s keeps 20-40 requests in flight all the time and each one needs its own
connection. A ``stream=true`` subscription costs one idle connection; the engine's collector
pushes one sample a second into it, and the sampler keeps only the latest. Each interval then
costs nothing but building one ``StatsBatch`` from memory.

Which containers run comes from the watcher's live view (fed by engine events); the engine's
container list is never polled. A stream that ends (the container stopped, the engine went
away) is dropped; the next interval re-opens streams for containers the view still shows
running, which also covers an engine restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from docklord.engine import Engine
from docklord.errors import DocklordError
from docklord.model import StatsSample
from docklord.node._watcher import Watcher
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import stats_batch_to_proto

__all__ = ["Sampler"]

log = structlog.get_logger(__name__)

#: Batches kept for a link that is slow to take them; older ones are dropped (a sample is
#: only worth its freshness).
QUEUED_BATCHES = 2


class Sampler:
    """Follows the stats of every running container and emits one batch per ``interval``.

    ``interval <= 0`` turns sampling off: :meth:`run` then returns at once and no batch is
    ever emitted.
    """

    def __init__(self, engine: Engine, watcher: Watcher, *, interval: float = 5.0) -> None:
        self.engine = engine
        self.watcher = watcher
        self.interval = interval
        #: container id -> the latest sample its stream delivered.
        self.latest: dict[str, StatsSample] = {}
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._queues: set[asyncio.Queue[pb.StatsBatch]] = set()
        self._wake = asyncio.Event()

    @property
    def following(self) -> frozenset[str]:
        """The containers whose stats stream is open now."""
        return frozenset(self._streams)

    async def run(self) -> None:
        """Sample until cancelled."""
        if self.interval <= 0:
            return
        await self.watcher.synced.wait()
        unsubscribe = self.watcher.subscribe(self._on_change)
        try:
            async with asyncio.TaskGroup() as tasks:
                due = time.monotonic() + self.interval
                while True:
                    self._reconcile(tasks)
                    if time.monotonic() >= due:
                        self._publish()
                        due = max(due + self.interval, time.monotonic())
                    await self._wait(due)
        finally:
            unsubscribe()
            self._streams.clear()

    async def forward(self, send: Callable[[pb.Envelope], Awaitable[None]]) -> None:
        """Send every batch to ``send`` until cancelled (one link's lifetime)."""
        queue: asyncio.Queue[pb.StatsBatch] = asyncio.Queue(QUEUED_BATCHES)
        self._queues.add(queue)
        try:
            while True:
                await send(pb.Envelope(stats=await queue.get()))
        finally:
            self._queues.discard(queue)

    def _on_change(self, item: pb.Event | pb.EngineStatus) -> None:
        # A start opens its stream now rather than at the next interval.
        if isinstance(item, pb.Event) and item.type == "container":
            self._wake.set()

    async def _wait(self, due: float) -> None:
        """Until ``due``, or until a container event asks for a reconcile."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(due - time.monotonic(), 0))

    def _reconcile(self, tasks: asyncio.TaskGroup) -> None:
        running = {cid for cid, c in self.watcher.containers.items() if c.state == "running"}
        for cid in list(self._streams):
            if cid not in running:
                self._streams.pop(cid).cancel()
                self.latest.pop(cid, None)
        for cid in running - self._streams.keys():
            self._streams[cid] = tasks.create_task(self._follow(cid), name=f"stats {cid[:12]}")

    async def _follow(self, cid: str) -> None:
        try:
            samples = aiter(self.engine.stats(cid))
            # The engine's first sample has no previous CPU reading (its CPU shows 0 %).
            if await anext(samples, None) is None:
                return
            async for sample in samples:
                self.latest[cid] = sample
        except DocklordError as exc:
            log.debug("stats stream ended", container=cid[:12], error=exc.message)
        except Exception:
            # One container's unreadable stats must not stop the node; the next interval
            # opens its stream again.
            log.exception("stats stream failed", container=cid[:12])
        finally:
            if self._streams.get(cid) is asyncio.current_task():
                del self._streams[cid]
            self.latest.pop(cid, None)

    def _publish(self) -> None:
        # An empty batch still goes: it tells the coordinator that nothing runs any more.
        if not self._queues:
            return
        batch = stats_batch_to_proto(time.time(), self.interval, sorted(self.latest.items()))
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(batch)
