"""A container's log through the coordinator: ``.../logs`` (text or NDJSON over HTTP) and
``.../logs/ws`` (JSON text frames), optionally following across restarts (see docs/API.md).

The plumbing (opening the node's channel, backpressure, close codes) is ``docklord.web._relay``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field
from starlette.websockets import WebSocket

from docklord.errors import DocklordError, InvalidInput
from docklord.link import Channel
from docklord.protocol import CONTROL, STDERR, STDOUT, methods
from docklord.web._auth import (
    Principal,
    Role,
    authorize,
    live_socket,
    require_node,
    websocket_policy,
)
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._relay import (
    ChannelResponse,
    LineSplitter,
    Moment,
    end_reason,
    lines_json,
    open_stream,
    parse_query,
    relay,
    until_client_leaves,
)
from docklord.web._ws_close import close_ws

__all__ = ["LOGS_WINDOW", "MAX_BATCH", "LogQuery", "LogSelection", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]

#: At most this many lines go in one ``{"lines": [...]}`` WebSocket frame.
MAX_BATCH = 8192
#: Each direction of a logs channel may hold this many unread bytes.
LOGS_WINDOW = 1024 * 1024


class LogSelection(BaseModel):
    """Which lines of a container's log: what every logs route accepts (all optional)."""

    tail: Annotated[
        Annotated[int, Field(ge=0)] | None,
        BeforeValidator(lambda v: None if v in ("all", "") else v),
    ] = Field(None, description='only the last N lines; "all" (or empty, or absent): every line')
    since: Moment = Field(None, description="Unix seconds, RFC 3339 or a duration ago (10m)")
    until: Moment = Field(None, description="same forms as since")
    timestamps: bool = Field(False, description="prefix each line with its RFC 3339 time")
    stdout: bool = True
    stderr: bool = True


class LogQuery(LogSelection):
    """What ``.../logs`` and ``.../logs/ws`` accept (all optional)."""

    follow: bool = Field(False, description="keep streaming until the container stops")
    follow_restarts: bool = Field(
        False,
        description="follow, and carry on across restarts and later starts until the"
        " container is removed (each line exactly once)",
    )
    format: Literal["text", "ndjson"] = Field("text", description="HTTP only")
    batch: bool = Field(True, description='WebSocket only: {"lines": [...]} frames')

    def channel_args(self, ref: str) -> methods.LogsArgs:
        """The node's ``logs`` channel arguments."""
        if not (self.stdout or self.stderr):
            raise InvalidInput("logs need stdout, stderr or both")
        return methods.LogsArgs(
            ref=ref,
            stdout=self.stdout,
            stderr=self.stderr,
            tail=self.tail,
            since=self.since,
            until=self.until,
            timestamps=self.timestamps,
            follow=self.follow or self.follow_restarts,
            follow_restarts=self.follow_restarts,
        )


@router.get("/containers/{ref}/logs", response_class=StreamingResponse)
async def container_logs(
    node: str,
    ref: str,
    request: Request,
    principal: NodeViewer,
    query: Annotated[LogQuery, Query()],
) -> StreamingResponse:
    """A container's output: raw text (both streams interleaved) or NDJSON lines.

    With ``follow=true`` the response streams until the container stops or the client leaves.
    """
    coordinator = coordinator_of(request)
    args = query.channel_args(await resolve(request, principal, node, ref))
    channel, _ = await open_stream(coordinator, node, methods.LOGS, args, window=LOGS_WINDOW)
    if query.format == "ndjson":
        return ChannelResponse(channel, _ndjson_body(channel), "application/x-ndjson")
    return ChannelResponse(channel, _text_body(channel), "text/plain; charset=utf-8")


async def _text_body(channel: Channel) -> AsyncIterator[bytes]:
    try:
        while (item := await channel.receive()) is not None:
            if item[0] in (STDOUT, STDERR):
                yield item[1]
    except DocklordError as exc:
        # The status line is sent already: end the body and say why in the log.
        log.warning("logs.stream_failed", code=exc.code, error=exc.message)


async def _ndjson_body(channel: Channel) -> AsyncIterator[bytes]:
    splitter = LineSplitter()
    end: str | None = None
    try:
        while (item := await channel.receive()) is not None:
            if item[0] in (STDOUT, STDERR) and (lines := splitter.feed(*item)):
                yield (lines_json(item[0], lines, "\n") + "\n").encode()
            elif item[0] == CONTROL:
                end = end_reason(item[1]) or end
    except DocklordError as exc:
        yield (json.dumps({"error": exc.to_dict()}) + "\n").encode()
        return
    for stream, lines in splitter.flush():
        yield (lines_json(stream, lines, "\n") + "\n").encode()
    if end is not None:
        yield (json.dumps({"end": end}) + "\n").encode()


@router.websocket("/containers/{ref}/logs/ws")
@websocket_policy(Role.VIEWER, node=True)
async def container_logs_ws(ws: WebSocket, node: str, ref: str) -> None:
    """A container's output as JSON text frames (see docs/API.md)."""
    coordinator = coordinator_of(ws)
    try:
        principal = await authorize(ws, Role.VIEWER, node=node)
        query = parse_query(LogQuery, ws.query_params)
        args = query.channel_args(await resolve(ws, principal, node, ref))
        channel, _ = await open_stream(coordinator, node, methods.LOGS, args, window=LOGS_WINDOW)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    async with live_socket(ws, principal):
        await relay(ws, channel, _send_lines(ws, channel, query.batch), until_client_leaves(ws))


async def _send_lines(ws: WebSocket, channel: Channel, batch: bool) -> None:
    splitter = LineSplitter()
    end: str | None = None
    # What has arrived is sent together: a backlog of one-line frames becomes a few batches.
    while (items := await channel.receive_many(LOGS_WINDOW // 4)) is not None:
        runs: list[tuple[int, list[str]]] = []
        for stream, data in items:
            if stream == CONTROL:
                end = end_reason(data) or end
            elif stream in (STDOUT, STDERR) and (lines := splitter.feed(stream, data)):
                if runs and runs[-1][0] == stream:
                    runs[-1][1].extend(lines)
                else:
                    runs.append((stream, lines))
        for stream, lines in runs:
            await _send_frames(ws, stream, lines, batch)
    for stream, lines in splitter.flush():
        await _send_frames(ws, stream, lines, batch)
    if end is not None:
        await ws.send_text(json.dumps({"end": end}))


async def _send_frames(ws: WebSocket, stream: int, lines: list[str], batch: bool) -> None:
    # A send need not wait (the socket has room), so the loop is given a turn between
    # batches and every few hundred single lines: a backlog must not hold it.
    if not batch:
        for n, line in enumerate(lines, 1):
            await ws.send_text(lines_json(stream, [line]))
            if n % 256 == 0:
                await asyncio.sleep(0)
        return
    for start in range(0, len(lines), MAX_BATCH):
        part = lines[start : start + MAX_BATCH]
        await ws.send_text('{"lines":[' + lines_json(stream, part) + "]}")
        await asyncio.sleep(0)
