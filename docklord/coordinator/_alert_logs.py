"""Following the logs of the containers that ``log_match`` rules select, through node links.

Bounded on every side: at most ``max_followed`` containers at once (the others are skipped
with a warning until a slot frees), lines cut at ``MAX_LINE`` bytes before matching, and the
link channel's byte window holds back a container that writes faster than we match. A follow
ends when the container stops (the node closes the stream), its node goes offline, or no rule
selects it any more; a new start follows again from its start time, so no line is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog

from docklord.coordinator._alert_rules import MAX_LINE
from docklord.errors import DocklordError
from docklord.link import Channel
from docklord.model import ContainerSummary
from docklord.protocol import CONTROL, STDERR, STDOUT, methods

__all__ = ["LineCutter", "LogFollowers", "OnLine", "OpenChannel", "follow_from"]

log = structlog.get_logger(__name__)

_WINDOW = 64 * 1024

#: ``Coordinator.open_channel``: node id, channel kind, args, window.
OpenChannel = Callable[..., Awaitable[Channel]]
#: Told of every line: node id, container id, the line (decoded, cut to ``MAX_LINE``).
OnLine = Callable[[str, str, str], None]


class LineCutter:
    """Splits a byte stream into lines of at most ``MAX_LINE`` bytes (the rest of a longer
    line is dropped, so a line without an end cannot grow a buffer)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._skipping = False

    def feed(self, data: bytes) -> list[str]:
        """The complete lines in ``data`` (and what came before it)."""
        lines: list[str] = []
        *complete, rest = (self._buffer + data).split(b"\n")
        for raw in complete:
            if not self._skipping:
                lines.append(raw[:MAX_LINE].decode(errors="replace"))
            self._skipping = False
        if len(rest) > MAX_LINE:
            if not self._skipping:
                lines.append(rest[:MAX_LINE].decode(errors="replace"))
            self._skipping, rest = True, b""
        self._buffer = rest
        return lines


class LogFollowers:
    """The running log follows, one task per (node, container)."""

    def __init__(self, open_channel: OpenChannel, on_line: OnLine, max_followed: int) -> None:
        self._open = open_channel
        self._on_line = on_line
        self.max_followed = max_followed
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def follow(self, node_id: str, container_id: str, since: float | Literal["now"]) -> None:
        """Follow a container's output from ``since`` (Unix seconds or ``"now"``)."""
        key = (node_id, container_id)
        if key in self._tasks:
            return
        if len(self._tasks) >= self.max_followed:
            log.warning("alerts.log_follow_cap", node=node_id, container=container_id)
            return
        task = asyncio.create_task(self._follow(node_id, container_id, since))
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("alerts.log_follow_failed", node=key[0], container=key[1], error=repr(exc))

    def stop(self, node_id: str, container_id: str | None = None) -> None:
        """Stop following one container, or every container of a node."""
        for key, task in list(self._tasks.items()):
            if key[0] == node_id and container_id in (None, key[1]):
                task.cancel()

    def followed(self) -> list[tuple[str, str]]:
        """The (node, container) pairs followed now."""
        return list(self._tasks)

    async def _follow(self, node_id: str, container_id: str, since: float | Literal["now"]) -> None:
        args = methods.LogsArgs(container_id, follow=True, since=since)
        try:
            channel = await self._open(node_id, methods.LOGS, args, window=_WINDOW)
        except DocklordError as exc:
            log.info("alerts.log_follow_refused", node=node_id, error=exc.message)
            return
        cutters = {STDOUT: LineCutter(), STDERR: LineCutter()}
        try:
            while (item := await channel.receive()) is not None:
                stream, data = item
                if stream == CONTROL or stream not in cutters:
                    continue
                for line in cutters[stream].feed(data):
                    self._on_line(node_id, container_id, line)
        except DocklordError as exc:
            log.info("alerts.log_follow_ended", node=node_id, error=exc.message)
        finally:
            await channel.close()

    async def aclose(self) -> None:
        """Stop every follow."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def follow_from(summary: ContainerSummary) -> float | Literal["now"]:
    """Where to start following a container that just started.

    Not at the ``start`` event's time: the engine sends that event once the process runs, so
    its first lines may be older. From two seconds earlier, but never before the end of the
    previous run, whose lines were matched then (or not at all, for a new follow).
    """
    if summary.started_at is None:
        return "now"
    since = summary.started_at - 2.0
    if summary.finished_at is not None and summary.finished_at < summary.started_at:
        since = max(since, summary.finished_at + 1e-6)
    return since
