"""Merged logs: the output of several containers, on any nodes, as one stream ordered by time.

Each container's lines come from its node's ``logs`` channel with the engine's timestamps.
First the tail: every container's last ``tail`` lines (``tail`` ≤ :data:`MAX_TAIL`, at most
:data:`MAX_CONTAINERS` containers) are merged by timestamp as they stream in, holding one line
per container (each container's output is in time order already). Then
the follow: each container is followed from just before the last timestamp of its tail, and the
lines the tail already held are skipped by count (``docklord.model._logstamps.Resume``), so none
comes twice. Live lines pass through :class:`Reorder`: a line is held up to
:data:`REORDER_WINDOW` seconds, so that a line of an earlier time from a slower node still goes
out before it. A line later than that goes out when it comes (the order is then off by it).

Every container is authorized on its own through the container routes' one path
(``resolve``): a node not granted, a container not visible (an instance's, to a non-admin) or
not there is ``404`` for the whole request.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect

from docklord._aio import first_of
from docklord.coordinator import Coordinator
from docklord.errors import DocklordError, InvalidInput, NotFound
from docklord.link import Channel
from docklord.model import Resume
from docklord.protocol import STDERR, STDOUT, methods
from docklord.web._auth import Principal, Role, authorize, live_socket, require, websocket_policy
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._logs import LOGS_WINDOW, MAX_BATCH
from docklord.web._relay import (
    LineSplitter,
    Moment,
    end_reason,
    open_stream,
    parse_query,
    until_client_leaves,
)
from docklord.web._ws_close import close_ws

__all__ = ["MAX_CONTAINERS", "MAX_TAIL", "REORDER_WINDOW", "MergedQuery", "Reorder", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1")

Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]

#: The most containers one merged stream follows.
MAX_CONTAINERS = 20
#: The most tail lines per container.
MAX_TAIL = 10_000
#: How long (seconds) a live line waits for lines of an earlier time from other containers.
REORDER_WINDOW = 0.25
#: Live lines held at most (more and the earliest goes out at once).
MAX_HELD = 50_000
_STAMP = 30  # 2006-01-02T15:04:05.000000000Z
_STREAMS = {STDOUT: "stdout", STDERR: "stderr"}


class MergedQuery(BaseModel):
    """What ``/api/v1/logs`` and ``/api/v1/logs/ws`` accept."""

    container: list[str] = Field(
        min_length=1,
        max_length=MAX_CONTAINERS,
        description=f"NODE/REF, repeated: 1 to {MAX_CONTAINERS} containers",
    )
    tail: Annotated[int, Field(ge=0, le=MAX_TAIL)] = Field(
        100, description=f"the last N lines of each container first (0 to {MAX_TAIL})"
    )
    since: Moment = Field(None, description="Unix seconds, RFC 3339 or a duration ago (10m)")
    until: Moment = Field(None, description="same forms as since")
    follow: bool = Field(True, description="after the tail, keep streaming new lines")
    follow_restarts: bool = Field(False, description="follow across restarts and later starts")
    stdout: bool = True
    stderr: bool = True


@dataclass(frozen=True, slots=True)
class Source:
    """One container of the merge, as the caller named it and as its node knows it."""

    node: str
    name: str
    ref: str


@dataclass(order=True, slots=True)
class Line:
    """One line of the merge (ordered by timestamp, then by arrival)."""

    stamp: str
    seq: int
    source: Source = field(compare=False)
    stream: str = field(compare=False)
    text: str = field(compare=False)

    def json(self) -> dict[str, str]:
        s = self.source
        return {
            "node": s.node,
            "container": s.name,
            "stream": self.stream,
            "line": self.text,
            "time": self.stamp,
        }


class Reorder:
    """Holds live lines up to ``window`` seconds and lets them out in timestamp order.

    A line goes out when it is the earliest held and either its own wait or that of any line
    held with it is over (so no line waits longer than ``window``), or when more than
    ``limit`` lines are held.
    """

    def __init__(self, window: float = REORDER_WINDOW, limit: int = MAX_HELD) -> None:
        self.window, self.limit = window, limit
        self._lines: list[Line] = []
        self._deadlines: list[tuple[float, int]] = []
        self._out: set[int] = set()

    def __len__(self) -> int:
        return len(self._lines)

    def push(self, line: Line, now: float) -> None:
        heapq.heappush(self._lines, line)
        heapq.heappush(self._deadlines, (now + self.window, line.seq))

    def due(self, now: float) -> list[Line]:
        """The lines to send now, in order."""
        out: list[Line] = []
        while self._lines and (len(self._lines) > self.limit or self._overdue(now)):
            line = heapq.heappop(self._lines)
            self._out.add(line.seq)
            out.append(line)
        return out

    def drain(self) -> list[Line]:
        """Every line held, in order (the sources have ended)."""
        return self.due(float("inf"))

    def wait(self, now: float) -> float | None:
        """Seconds until a line is due (``None``: nothing held)."""
        self._forget()
        return max(0.0, self._deadlines[0][0] - now) if self._deadlines else None

    def _overdue(self, now: float) -> bool:
        self._forget()
        return bool(self._deadlines) and self._deadlines[0][0] <= now

    def _forget(self) -> None:
        while self._deadlines and self._deadlines[0][1] in self._out:
            self._out.discard(heapq.heappop(self._deadlines)[1])


def split_line(line: str) -> tuple[str, str]:
    """``(timestamp, text)`` of a line read with timestamps (an empty stamp without one)."""
    if len(line) > _STAMP and line[_STAMP] == " " and line[_STAMP - 1] == "Z":
        return line[:_STAMP], line[_STAMP + 1 :]
    return "", line


async def sources_of(conn: HTTPConnection, principal: Principal, names: list[str]) -> list[Source]:
    """Each ``NODE/REF`` resolved and authorized like the container routes do it.

    Raises:
        InvalidInput: not ``NODE/REF``. NotFound: a node or container the caller may not reach.
    """
    sources: list[Source] = []
    for name in dict.fromkeys(names):
        node, slash, ref = name.partition("/")
        if not (node and slash and ref):
            raise InvalidInput(f"container {name!r}: use NODE/REF (a node id, then a container)")
        if not principal.may_see(node):
            raise NotFound(f"no such node: {node}")
        sources.append(Source(node, name, await resolve(conn, principal, node, ref)))
    return sources


@dataclass
class _Feed:
    source: Source
    channel: Channel
    resume: Resume


async def merged(
    coordinator: Coordinator, sources: list[Source], query: MergedQuery
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Batches of merged lines (tail first, then live), and an ``ended`` entry per source.

    The first batch is empty and comes once every tail stream is open: an error before it
    (no such container on the node, a node offline) can still become a status code.
    """
    seq = iter(range(1 << 62))
    resumes = {s: Resume() for s in sources}
    async with contextlib.AsyncExitStack() as stack:
        channels = await _open_tails(coordinator, sources, query)
        for channel in channels:
            stack.push_async_callback(channel.close)
        yield []
        tails = [_lines(c, s, resumes[s], seq) for c, s in zip(channels, sources, strict=True)]
        async for batch in _merge_sorted(tails):
            yield batch
    if not query.follow:
        return
    async with contextlib.aclosing(_live(coordinator, sources, query, resumes, seq)) as live:
        async for batch in live:
            yield batch


async def _open_tails(
    coordinator: Coordinator, sources: list[Source], query: MergedQuery
) -> list[Channel]:
    if query.tail == 0:
        return []
    opened = await asyncio.gather(
        *(
            open_stream(
                coordinator,
                s.node,
                methods.LOGS,
                _args(s, query, follow=False, tail=query.tail, since=query.since),
                window=LOGS_WINDOW,
            )
            for s in sources
        ),
        return_exceptions=True,
    )
    channels = [item[0] for item in opened if not isinstance(item, BaseException)]
    for item in opened:
        if isinstance(item, BaseException):
            for channel in channels:
                await channel.close()
            raise item
    return channels


async def _merge_sorted(streams: list[AsyncIterator[Line]]) -> AsyncIterator[list[dict[str, Any]]]:
    """A k-way merge of streams that are each in time order: one line per stream is held."""
    heads: list[tuple[Line, int]] = []
    for index, stream in enumerate(streams):
        if (first := await anext(stream, None)) is not None:
            heads.append((first, index))
    heapq.heapify(heads)
    batch: list[dict[str, Any]] = []
    while heads:
        line, index = heads[0]
        batch.append(line.json())
        if (following := await anext(streams[index], None)) is not None:
            heapq.heapreplace(heads, (following, index))
        else:
            heapq.heappop(heads)
        if len(batch) >= MAX_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _args(
    source: Source, query: MergedQuery, *, follow: bool, tail: int | None, since: float | None
) -> methods.LogsArgs:
    if not (query.stdout or query.stderr):
        raise InvalidInput("logs need stdout, stderr or both")
    return methods.LogsArgs(
        ref=source.ref,
        stdout=query.stdout,
        stderr=query.stderr,
        timestamps=True,
        follow=follow,
        tail=tail,
        since=since,
        until=query.until,
        follow_restarts=follow and query.follow_restarts,
    )


async def _lines(
    channel: Channel, source: Source, resume: Resume, seq: Any, ended: list[str] | None = None
) -> AsyncIterator[Line]:
    splitter = LineSplitter()
    while (item := await channel.receive()) is not None:
        stream, data = item
        if stream in _STREAMS:
            for text in splitter.feed(stream, data):
                if (line := _line(source, stream, text, resume, seq)) is not None:
                    yield line
        elif ended is not None and (reason := end_reason(data)) is not None:
            ended.append(reason)
    for stream, texts in splitter.flush():
        for text in texts:
            if (line := _line(source, stream, text, resume, seq)) is not None:
                yield line


def _line(source: Source, stream: int, text: str, resume: Resume, seq: Any) -> Line | None:
    stamp, rest = split_line(text)
    if not resume.take(stamp.encode()):
        return None
    return Line(stamp, next(seq), source, _STREAMS[stream], rest)


async def _live(
    coordinator: Coordinator,
    sources: list[Source],
    query: MergedQuery,
    resumes: dict[Source, Resume],
    seq: Any,
) -> AsyncGenerator[list[dict[str, Any]], None]:
    queue: asyncio.Queue[Line | dict[str, Any]] = asyncio.Queue(maxsize=4 * MAX_BATCH)
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        for source in sources:
            feed = await _open_follow(coordinator, source, query, resumes[source])
            stack.push_async_callback(feed.channel.close)
            tasks.append(asyncio.create_task(_pump(feed, queue, seq)))
        try:
            async for batch in _reordered(queue, len(tasks)):
                yield batch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _open_follow(
    coordinator: Coordinator, source: Source, query: MergedQuery, resume: Resume
) -> _Feed:
    resume.restart()
    if resume.last:
        since, tail = resume.since(), None
    else:
        # Nothing in the tail: everything from here on is new (tail=0: only what comes next).
        since, tail = query.since, (0 if query.tail == 0 else None)
    args = _args(source, query, follow=True, tail=tail, since=since)
    channel, _ = await open_stream(coordinator, source.node, methods.LOGS, args, window=LOGS_WINDOW)
    return _Feed(source, channel, resume)


async def _pump(feed: _Feed, queue: asyncio.Queue[Line | dict[str, Any]], seq: Any) -> None:
    ended: list[str] = []
    reason: dict[str, Any] = {"node": feed.source.node, "container": feed.source.name}
    try:
        async for line in _lines(feed.channel, feed.source, feed.resume, seq, ended):
            await queue.put(line)
        reason["reason"] = ended[-1] if ended else "stopped"
    except DocklordError as exc:
        reason.update(reason="error", error=exc.to_dict())
    await queue.put({"ended": reason})


async def _reordered(
    queue: asyncio.Queue[Line | dict[str, Any]], running: int
) -> AsyncIterator[list[dict[str, Any]]]:
    reorder = Reorder()
    while running or len(reorder):
        batch: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(reorder.wait(time.monotonic()) if running else 0):
                item = await queue.get()
            items = [item]
            while not queue.empty() and len(items) < MAX_BATCH:
                items.append(queue.get_nowait())
        except TimeoutError:
            items = []
        now = time.monotonic()
        for item in items:
            if isinstance(item, Line):
                reorder.push(item, now)
            else:
                running -= 1
                batch.append(item)
        lines = reorder.due(now) if running else reorder.drain()
        batch[:0] = [line.json() for line in lines]
        if batch:
            yield batch


# ---- routes ---------------------------------------------------------------------------------


@router.get("/logs", response_class=StreamingResponse)
async def merged_logs(
    request: Request, principal: Viewer, query: Annotated[MergedQuery, Query()]
) -> StreamingResponse:
    """Several containers' output merged by time, as NDJSON (see docs/API.md)."""
    sources = await sources_of(request, principal, query.container)
    body = merged(coordinator_of(request), sources, query)
    # The tail streams are opened here, so that a node's refusal still answers with its status.
    try:
        first = await anext(body)
    except BaseException:
        await body.aclose()
        raise

    async def ndjson() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(body):
            yield _ndjson(first)
            try:
                async for batch in body:
                    yield _ndjson(batch)
            except DocklordError as exc:
                yield (json.dumps({"error": exc.to_dict()}) + "\n").encode()

    return StreamingResponse(
        ndjson(), media_type="application/x-ndjson", headers={"Cache-Control": "no-cache"}
    )


def _ndjson(batch: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in batch).encode()


@router.websocket("/logs/ws")
@websocket_policy(Role.VIEWER)
async def merged_logs_ws(ws: WebSocket) -> None:
    """Several containers' output merged by time, as ``{"lines": [...]}`` frames."""
    try:
        principal = await authorize(ws, Role.VIEWER)
        values = {**ws.query_params, "container": ws.query_params.getlist("container")}
        query = parse_query(MergedQuery, values)
        sources = await sources_of(ws, principal, query.container)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    async with live_socket(ws, principal):
        try:
            await first_of(_send(ws, sources, query), until_client_leaves(ws))
        except DocklordError as exc:
            await close_ws(ws, exc)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("merged_logs.client_left", error=str(exc))
        else:
            await close_ws(ws)


async def _send(ws: WebSocket, sources: list[Source], query: MergedQuery) -> None:
    batches = merged(coordinator_of(ws), sources, query)
    async with contextlib.aclosing(batches):
        async for batch in batches:
            lines = [entry for entry in batch if "ended" not in entry]
            if lines:
                await ws.send_text(json.dumps({"lines": lines}))
            for entry in batch:
                if "ended" in entry:
                    await ws.send_text(json.dumps(entry))
