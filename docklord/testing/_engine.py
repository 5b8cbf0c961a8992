"""An engine without Docker: containers in a dict, events the test makes."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from docklord.engine import Engine
from docklord.errors import EngineUnavailable, NotFound
from docklord.model import ContainerSummary, EngineEvent, EngineInfo, StatsSample

__all__ = ["ScriptedEngine"]

#: An address nothing listens on: a call this double does not answer fails at once.
NOWHERE = "unix:///nonexistent/docklord-scripted-engine.sock"


class ScriptedEngine(Engine):
    """What :class:`docklord.node.NodeAgent`'s watcher reads, answered from memory.

    ``info``, ``list_containers``, ``get_summary`` and ``events`` are served from
    :attr:`containers` and from the events the test makes with :meth:`add`, :meth:`change`
    and :meth:`drop`; ``stats`` is empty. Everything else goes to an address nothing listens
    on and raises ``EngineUnavailable``, as an engine that is down would. :meth:`go_down`
    makes the served calls fail that way too, and ends the event streams, until
    :meth:`come_back`.
    """

    def __init__(self, containers: Sequence[ContainerSummary] = ()) -> None:
        super().__init__(NOWHERE)
        self.containers: dict[str, ContainerSummary] = {c.id: c for c in containers}
        self._subscribers: set[asyncio.Queue[EngineEvent | None]] = set()
        self._counter = 0
        self.down = False

    def go_down(self) -> None:
        """Answer nothing, as a stopped engine: calls raise ``EngineUnavailable``, event
        streams end."""
        self.down = True
        for queue in self._subscribers:
            queue.put_nowait(None)

    def come_back(self) -> None:
        """Answer again after :meth:`go_down`."""
        self.down = False

    def _check_up(self) -> None:
        if self.down:
            raise EngineUnavailable(f"cannot reach the engine at {NOWHERE} (scripted outage)")

    async def info(self) -> EngineInfo:
        self._check_up()
        return EngineInfo("27.0", "1.46", "1.24", "linux", "x86_64", "6.1", "scripted", 0, 0)

    async def list_containers(
        self, *, all: bool = True, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[ContainerSummary]:
        self._check_up()
        return [c for c in self.containers.values() if all or c.state == "running"]

    async def get_summary(self, ref: str) -> ContainerSummary:
        self._check_up()
        summary = self.containers.get(ref)
        if summary is None:
            raise NotFound(f"no such container: {ref}")
        return summary

    async def events(
        self, *, since: float | None = None, filters: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[EngineEvent]:
        self._check_up()
        queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
            self._check_up()
        finally:
            self._subscribers.discard(queue)

    async def stats(self, ref: str) -> AsyncIterator[StatsSample]:
        empty: tuple[StatsSample, ...] = ()
        for sample in empty:
            yield sample

    @property
    def watched(self) -> bool:
        """Whether someone follows :meth:`events` now (a watcher that has synced)."""
        return bool(self._subscribers)

    def add(self, name: str | None = None, *, state: str = "running") -> ContainerSummary:
        """Add a container and announce it (a ``create`` event); returns it."""
        self._counter += 1
        cid = f"{self._counter:04d}{time.time_ns():x}".ljust(64, "0")[:64]
        now = time.time()
        summary = ContainerSummary(
            id=cid,
            name=name or f"scripted-{self._counter}",
            image="docklord-test/scripted:latest",
            state=state,
            status="Up 1 second" if state == "running" else "Created",
            created=now,
            started_at=now if state == "running" else None,
        )
        self.containers[cid] = summary
        self._announce("create", cid)
        return summary

    def change(self, cid: str, **fields: object) -> ContainerSummary:
        """Change a container's fields (``state=`` say) and announce it (``update``)."""
        summary = dataclasses.replace(self.containers[cid], **fields)  # type: ignore[arg-type]
        self.containers[cid] = summary
        self._announce("update", cid)
        return summary

    def drop(self, cid: str) -> None:
        """Drop a container and announce it (``destroy``)."""
        del self.containers[cid]
        self._announce("destroy", cid)

    def _announce(self, action: str, cid: str) -> None:
        event = EngineEvent(type="container", action=action, actor_id=cid, time_nano=time.time_ns())
        for queue in self._subscribers:
            queue.put_nowait(event)
