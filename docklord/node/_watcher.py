from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import structlog

from docklord.engine import Engine
from docklord.errors import EngineError, EngineUnavailable, NotFound
from docklord.model import OVERSIZED_EVENT, ContainerSummary, EngineEvent, EngineInfo
from docklord.node._derive import derive_summary
from docklord.protocol import EventJournal, engine_info_to_proto, summary_to_proto
from docklord.protocol import docklord_pb2 as pb

__all__ = ["Listener", "Watcher"]

log = structlog.get_logger(__name__)

#: Container actions that change what the fleet view shows. Others (exec_*, attach, resize,
#: top, archive-path, ...) leave the container as it was and are not forwarded.
STATE_ACTIONS = frozenset(
    {
        "create",
        "start",
        "restart",
        "stop",
        "die",
        "kill",
        "oom",
        "pause",
        "unpause",
        "destroy",
        "rename",
        "update",
        "health_status",
    }
)

Listener = Callable[["pb.Event | pb.EngineStatus"], None]


class Watcher:
    """The node's live view of its engine: the containers, and a journal of numbered events.

    Each change becomes a ``pb.Event`` with the next ``seq`` and the container's full state
    after the change. ``seq`` starts at the node's start time in microseconds, so it keeps
    increasing across node restarts; the journal keeps the last ``journal_size`` events so a
    coordinator that reconnects can be caught up without a snapshot.

    When the engine goes away, the watcher reports it (``pb.EngineStatus``), keeps the last
    known containers, retries with backoff, and on recovery re-reads every container and
    journals the differences as ``sync`` events. An event the engine layer had to skip (too
    long to read) is caught up the same way. No single event, nor a failing listener, ends
    the watcher: the failure is logged, and the stream is followed on (or subscribed anew).
    """

    def __init__(self, engine: Engine, *, journal_size: int = 10_000) -> None:
        self.engine = engine
        self.base_seq = int(time.time() * 1_000_000)
        self.seq = self.base_seq
        self.containers: dict[str, ContainerSummary] = {}
        self.journal = EventJournal(journal_size)
        self.engine_info: EngineInfo | None = None
        self.engine_available = False
        self.engine_message = "not connected yet"
        self.synced = asyncio.Event()
        self._listeners: list[Listener] = []
        self._first_sync = True

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` synchronously for every new event and engine status change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def journal_after(self, seq: int) -> list[pb.Event] | None:
        """The events after ``seq``, or ``None`` when the journal no longer covers ``seq``."""
        return self.journal.after(seq, base_seq=self.base_seq, last_seq=self.seq)

    def engine_status(self) -> pb.EngineStatus:
        """The engine's availability as the link reports it."""
        status = pb.EngineStatus(available=self.engine_available, message=self.engine_message)
        if self.engine_info is not None:
            status.engine.CopyFrom(engine_info_to_proto(self.engine_info))
        return status

    async def run(self) -> None:
        """Follow the engine forever, re-syncing after every outage."""
        delay = 0.2
        while True:
            try:
                await self._sync_and_follow()
                delay = 0.2
            except EngineError as exc:
                self._set_available(False, exc.message)
            except Exception as exc:
                # A bug or an unreadable stream must not end the node: subscribe anew (the
                # re-sync catches up whatever the failure made us miss).
                log.error("watcher.failed", error=repr(exc), exc_info=exc)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
            delay = min(delay * 2, 5.0)

    async def _sync_and_follow(self) -> None:
        started = time.time()
        self.engine_info = await self.engine.info()
        await self._sync(await self._read_all())
        self._set_available(True, "")
        self.synced.set()
        # Replaying from just before the listing closes the gap between list and subscribe;
        # applying an event twice is harmless because each one re-reads the container.
        async for event in self.engine.events(since=started - 1):
            try:
                await self._apply(event)
            except EngineError:
                raise
            except Exception as exc:
                log.error(
                    "watcher.event_failed",
                    action=event.action,
                    actor_id=event.actor_id,
                    error=repr(exc),
                    exc_info=exc,
                )
        raise EngineUnavailable(f"event stream from {self.engine.address} ended")

    async def _read_all(self) -> dict[str, ContainerSummary]:
        listed = await self.engine.list_containers(all=True)
        gate = asyncio.Semaphore(16)

        async def one(summary: ContainerSummary) -> ContainerSummary | None:
            async with gate:
                try:
                    return await self.engine.get_summary(summary.id)
                except NotFound:
                    return None

        full = await asyncio.gather(*(one(s) for s in listed))
        return {s.id: s for s in full if s is not None}

    async def _sync(self, current: dict[str, ContainerSummary]) -> None:
        previous, self.containers = self.containers, current
        if self._first_sync:
            self._first_sync = False
            return
        now = time.time_ns()
        for cid, summary in current.items():
            if previous.get(cid) != summary:
                self._emit(pb.Event(type="container", action="sync", actor_id=cid), summary, now)
        for cid in previous.keys() - current.keys():
            self._emit(pb.Event(type="container", action="destroy", actor_id=cid), None, now)

    async def _apply(self, event: EngineEvent) -> None:
        if event.type == OVERSIZED_EVENT:
            # We cannot tell which container it was about: re-read them all, so that the
            # journal records what changed (as ``sync`` events) instead of losing it.
            log.warning("watcher.event_skipped", bytes=event.attributes.get("bytes", "?"))
            await self._sync(await self._read_all())
            return
        if event.type != "container":
            self._emit(_to_proto(event), None, event.time_nano)
            return
        if event.action not in STATE_ACTIONS:
            return
        summary = derived = derive_summary(self.containers.get(event.actor_id), event)
        if summary is None and event.action != "destroy":
            try:
                summary = await self.engine.get_summary(event.actor_id)
            except NotFound:
                summary = None
        if summary is None:
            self.containers.pop(event.actor_id, None)
        else:
            self.containers[summary.id] = summary
        self._emit(_to_proto(event), summary, event.time_nano, removed=summary is None)
        if event.action == "die" and derived is not None:
            await self._after_death(derived)

    async def _after_death(self, derived: ContainerSummary) -> None:
        """Read a container that died: the ``die`` went out derived (fast), but whether the
        restart policy restarts it (state ``restarting``, ``RestartCount`` one up) only the
        engine knows, and it knows before it sends the ``die``. A difference goes out as a
        ``sync`` event. One inspect per death, none per start, and no polling."""
        try:
            current = await self.engine.get_summary(derived.id)
        except NotFound:
            return  # removed: its ``destroy`` follows
        known = self.containers.get(derived.id)
        if known is None or (known.state, known.restart_count) == (
            current.state,
            current.restart_count,
        ):
            return
        self.containers[current.id] = current
        sync = pb.Event(type="container", action="sync", actor_id=current.id)
        self._emit(sync, current, time.time_ns())

    def _emit(
        self,
        event: pb.Event,
        summary: ContainerSummary | None,
        time_nano: int,
        *,
        removed: bool = False,
    ) -> None:
        self.seq += 1
        event.seq = self.seq
        event.time_nano = time_nano
        if summary is not None:
            event.container.CopyFrom(summary_to_proto(summary))
        event.removed = removed or (event.type == "container" and summary is None)
        self.journal.append(event)
        self._tell(event)

    def _tell(self, item: pb.Event | pb.EngineStatus) -> None:
        for listener in list(self._listeners):
            try:
                listener(item)
            except Exception as exc:
                # One listener's bug must not keep the event from the others, nor from the
                # journal (it is already there).
                log.error("watcher.listener_failed", error=repr(exc), exc_info=exc)

    def _set_available(self, available: bool, message: str) -> None:
        if (available, message) == (self.engine_available, self.engine_message):
            return
        self.engine_available, self.engine_message = available, message
        if available:
            log.info("engine available", address=self.engine.address)
        else:
            log.warning("engine unavailable", address=self.engine.address, reason=message)
        self._tell(self.engine_status())


def _to_proto(event: EngineEvent) -> pb.Event:
    return pb.Event(
        type=event.type,
        action=event.action,
        actor_id=event.actor_id,
        attributes=dict(event.attributes),
    )
