"""Following a container's output across restarts and later starts (``follow_restarts``).

The engine's own follow ends when the container stops. This follow carries on: when a pass
ends, the node looks at the container; if it runs again (``docker restart``) the next pass
starts at once, otherwise the node waits for the engine's next ``start`` event of that
container (or its ``destroy``, which ends the follow with :class:`LogEnd` ``removed``).

Each pass asks the engine for timestamps and starts with ``since`` the last timestamp
delivered, so the messages the earlier passes sent are skipped by
:class:`~docklord.model._logstamps.Resume`: every message exactly once, also when several share
the boundary's timestamp. While the container is stopped nothing is buffered: the node holds
one idle event subscription filtered to that container and the few bytes of the boundary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from docklord.errors import Conflict, NotFound
from docklord.model import ContainerSummary, EngineEvent, LogChunk, Resume, split_stamp

__all__ = ["END_REMOVED", "END_UNTIL", "LogEnd", "LogSource", "follow_across_starts"]

#: :attr:`LogEnd.reason` when the container was removed.
END_REMOVED = "removed"
#: :attr:`LogEnd.reason` when the ``until`` time has passed.
END_UNTIL = "until"

_RUNNING = frozenset({"running", "restarting"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LogEnd:
    """Why a follow across restarts ended (it never ends while the container may start)."""

    reason: str


class LogSource(Protocol):
    """What the follow needs of :class:`~docklord.engine.Engine` (a fake in the unit tests)."""

    def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
        follow: bool = False,
    ) -> AsyncIterator[LogChunk]: ...

    async def get_summary(self, ref: str) -> ContainerSummary: ...

    def events(
        self, *, since: float | None = None, filters: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[EngineEvent]: ...


async def follow_across_starts(
    engine: LogSource,
    ref: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    tail: int | None = None,
    since: float | None = None,
    until: float | None = None,
    timestamps: bool = False,
) -> AsyncIterator[LogChunk | LogEnd]:
    """The container's output, one chunk per message, then a :class:`LogEnd`.

    ``tail`` applies to the first pass only; later passes read everything after the last
    message delivered.

    Raises:
        NotFound: no such container (when the follow starts).
    """
    cid = (await engine.get_summary(ref)).id
    resume = Resume()
    start, pass_tail = since, tail
    while True:
        resume.restart()
        begin = resume.since() if resume.last else start
        chunks = engine.logs(
            cid,
            stdout=stdout,
            stderr=stderr,
            tail=pass_tail,
            since=begin,
            until=until,
            timestamps=True,
            follow=True,
        )
        try:
            async with _closing(chunks):
                async for chunk in chunks:
                    stamp, text = split_stamp(chunk.data)
                    if resume.take(stamp):
                        yield chunk if timestamps else LogChunk(chunk.stream, text)
        except NotFound:
            # Removed while the engine layer looked again (``docker rm -f`` of a running
            # container: it still runs when the follow ends, and is gone a moment later).
            yield LogEnd(END_REMOVED)
            return
        except Conflict:
            pass  # "dead or marked for removal": the look below waits for its destroy
        end, stopped_at = await _after_pass(engine, cid, until)
        if end is not None:
            yield end
            return
        # Nothing delivered yet: the next run's output is what comes after this stop.
        start, pass_tail = (start if stopped_at is None else stopped_at), None


async def _after_pass(
    engine: LogSource, cid: str, until: float | None
) -> tuple[LogEnd | None, float | None]:
    """Wait until the container runs again: ``(None, when it stopped)``, or why to end."""
    try:
        summary = await engine.get_summary(cid)
    except NotFound:
        return LogEnd(END_REMOVED), None
    stopped_at = summary.finished_at
    if until is not None and time.time() >= until:
        return LogEnd(END_UNTIL), stopped_at
    if summary.state in _RUNNING:
        return None, stopped_at
    # The event filter's ``since`` is the engine's own clock: no start after this stop is
    # missed, whenever the subscription begins, and no earlier one is replayed.
    after = max(summary.created, stopped_at or 0.0)
    try:
        async with asyncio.timeout(None if until is None else max(0.0, until - time.time())):
            return await _next_start(engine, cid, after), stopped_at
    except TimeoutError:
        return LogEnd(END_UNTIL), stopped_at


async def _next_start(engine: LogSource, cid: str, after: float) -> LogEnd | None:
    """``None`` at the container's next start, :class:`LogEnd` when it is removed first."""
    filters = {"type": ["container"], "container": [cid], "event": ["start", "destroy"]}
    events = engine.events(since=after, filters=filters)
    async with _closing(events):
        async for event in events:
            if event.action == "destroy":
                return LogEnd(END_REMOVED)
            if event.action == "start":
                return None
    return LogEnd(END_REMOVED)  # the engine's event stream never ends but by an error


@asynccontextmanager
async def _closing(stream: AsyncIterator[T]) -> AsyncIterator[None]:
    """Close an engine stream (and so its connection) however the consumer stops."""
    try:
        yield
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
