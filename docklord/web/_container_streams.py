"""A container's streams through the coordinator: logs, stats and interactive exec.

Each request opens a link channel to the container's node (see ``docklord.protocol._channels``
for the frames); the channel's byte credit carries backpressure end to end, so a slow client
slows the engine read instead of losing lines or growing a buffer. Closing the client closes
the channel, which stops the engine stream on the node.

WebSocket close codes (``docklord.web._ws_close``): 1000 the stream ended; 4400 bad request;
``4000 + status`` for other errors (4401, 4403, 4404 no such node or container, 4409 not running
or ambiguous, 4502 engine error, 4503 node offline, 4504 timeout).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import re
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from docklord._aio import first_of
from docklord.coordinator import Coordinator, iso
from docklord.errors import DocklordError, InvalidInput, RequestTimeout
from docklord.link import Channel
from docklord.protocol import CONTROL, EOF, PLAIN, STDERR, STDOUT, control, methods, parse_control
from docklord.web._audit import audit
from docklord.web._auth import (
    Principal,
    Role,
    authorize,
    live_socket,
    require_node,
    websocket_policy,
)
from docklord.web._client_messages import parse_message
from docklord.web._containers import resolve
from docklord.web._deps import coordinator_of
from docklord.web._ws_close import close_ws

__all__ = ["LineSplitter", "LogQuery", "close_ws", "lines_json", "open_stream", "relay", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeViewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]
NodeAdmin = Annotated[Principal, Depends(require_node(Role.ADMIN))]

#: A line longer than this is cut (the engine's own log drivers cut at 16 KiB).
MAX_LINE = 1024 * 1024
#: At most this many lines go in one ``{"lines": [...]}`` WebSocket frame.
MAX_BATCH = 8192
#: Each direction of a logs channel may hold this many unread bytes.
LOGS_WINDOW = 1024 * 1024
_STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr", PLAIN: "stdout"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h)")
_UNITS = {"s": 1, "m": 60, "h": 3600}

M = TypeVar("M", bound=BaseModel)


# ---- query parameters -----------------------------------------------------------------------


def parse_time(value: Any) -> float | None:
    """Unix seconds from Unix seconds, an RFC 3339 time or a duration ago (``10m``)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = _time_text(text)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a time must be a finite, non-negative number of Unix seconds")
    return seconds


def _time_text(text: str) -> float:
    duration = _DURATION.fullmatch(text)
    if duration:
        return time.time() - float(duration[1]) * _UNITS[duration[2]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            "use Unix seconds, an RFC 3339 time (2026-01-02T03:04:05Z) or a duration (10m)"
        ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


Moment = Annotated[float | None, BeforeValidator(parse_time)]


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

    def channel_args(self, ref: str) -> dict[str, Any]:
        """The node's ``logs`` channel arguments."""
        if not (self.stdout or self.stderr):
            raise InvalidInput("logs need stdout, stderr or both")
        fields = ("tail", "since", "until", "timestamps", "follow", "stdout", "stderr")
        args = {"ref": ref, **{name: getattr(self, name) for name in fields}}
        if self.follow_restarts:
            args.update(follow=True, follow_restarts=True)
        return args


class ExecQuery(BaseModel):
    """What ``.../exec/ws`` accepts."""

    cmd: list[Annotated[str, Field(max_length=100_000)]] = Field(min_length=1, max_length=256)
    tty: bool = True
    user: str | None = Field(None, max_length=256)
    workdir: str | None = Field(None, max_length=4096)
    rows: int | None = Field(None, ge=1, le=10_000)
    cols: int | None = Field(None, ge=1, le=10_000)


def parse_query(model: type[M], values: Mapping[str, Any]) -> M:
    """Validate WebSocket query parameters like FastAPI does for HTTP ones.

    Raises:
        InvalidInput: naming each bad parameter.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"invalid query parameters: {problems}") from exc


# ---- shared stream plumbing -----------------------------------------------------------------


async def open_stream(
    coordinator: Coordinator, node: str, kind: str, args: Any, *, window: int = 256 * 1024
) -> tuple[Channel, dict[str, Any]]:
    """Open a channel and wait for the node's first control frame (``ready``, ``started``).

    Errors the node finds before streaming (no such container, not running...) are raised
    here, so that a request can still answer with a status code.

    Raises:
        DocklordError: the node's error, ``NodeOffline``, or ``RequestTimeout``.
    """
    channel = await coordinator.open_channel(node, kind, args, window=window)
    try:
        async with asyncio.timeout(coordinator.config.request_timeout):
            first = await channel.receive()
        if first is None or first[0] != CONTROL:
            raise DocklordError(f"node {node} opened the {kind} stream without a ready frame")
        return channel, parse_control(first[1])
    except TimeoutError as exc:
        await channel.close()
        raise RequestTimeout(f"node {node} did not open the {kind} stream in time") from exc
    except BaseException:
        await channel.close()
        raise


async def relay(ws: WebSocket, channel: Channel, *pumps: Coroutine[Any, Any, None]) -> None:
    """Run ``pumps`` until one ends, then close the channel and the socket.

    The socket closes with 1000 when a pump ends normally (the stream ended), with the error's
    code when the node reports one; nothing is sent when the client already left.
    """
    try:
        await first_of(*pumps)
    except DocklordError as exc:
        await close_ws(ws, exc)
    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
        log.debug("stream.client_left", kind=channel.kind, error=str(exc))
    else:
        await close_ws(ws)
    finally:
        await channel.close()


async def until_client_leaves(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


class LineSplitter:
    """Cuts each output stream into lines; a line may span any number of chunks.

    Text is decoded as UTF-8 (invalid bytes become U+FFFD); a ``\\r`` before a newline (TTY
    output) is dropped. A line longer than ``MAX_LINE`` bytes is cut there.
    """

    def __init__(self) -> None:
        self._partial: dict[int, bytes] = {}

    def feed(self, stream: int, data: bytes) -> list[str]:
        """The lines of ``stream`` that ``data`` completes, in order."""
        pending = self._partial.pop(stream, b"")
        if pending:
            data = pending + data
        cut = data.rfind(b"\n")
        rest = data[cut + 1 :]
        if len(rest) > MAX_LINE:
            return _split(data)  # the unterminated tail becomes a line of its own
        if rest:
            self._partial[stream] = rest
        # A UTF-8 sequence never contains a newline byte: decoding up to one is safe.
        return _split(data[:cut]) if cut >= 0 else []

    def flush(self) -> list[tuple[int, list[str]]]:
        """The unterminated last line of each stream, at the end of the output."""
        rest = [(stream, _split(data)) for stream, data in self._partial.items()]
        self._partial.clear()
        return rest


def _split(data: bytes) -> list[str]:
    text = data.decode(errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").removesuffix("\r")
    return text.split("\n")


def lines_json(stream: int, lines: list[str], separator: str = ",") -> str:
    """``{"stream": ..., "line": ...}`` objects for ``lines``, joined by ``separator``.

    Each line is encoded by the C string encoder of ``json`` and the objects are joined
    around it: this is the hot path of a log flood.
    """
    if not lines:
        return ""
    head = f'{{"stream":"{_STREAM_NAMES.get(stream, "stdout")}","line":'
    return head + ("}" + separator + head).join(map(encode_basestring, lines)) + "}"


# ---- logs -----------------------------------------------------------------------------------


class ChannelResponse(StreamingResponse):
    """A streaming response that closes its channel however the response ends."""

    def __init__(self, channel: Channel, body: AsyncIterator[bytes], media_type: str) -> None:
        super().__init__(body, media_type=media_type, headers={"Cache-Control": "no-cache"})
        self.channel = channel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.channel.close()


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
    channel, _ = await open_stream(coordinator, node, "logs", args, window=LOGS_WINDOW)
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


def end_reason(data: bytes) -> str | None:
    """The reason of the node's ``end`` control frame (``None`` for any other control)."""
    message = parse_control(data)
    reason = message.get("reason")
    return str(reason) if message["type"] == "end" and reason is not None else None


@router.websocket("/containers/{ref}/logs/ws")
@websocket_policy(Role.VIEWER, node=True)
async def container_logs_ws(ws: WebSocket, node: str, ref: str) -> None:
    """A container's output as JSON text frames (see docs/API.md)."""
    coordinator = coordinator_of(ws)
    try:
        principal = await authorize(ws, Role.VIEWER, node=node)
        query = parse_query(LogQuery, ws.query_params)
        args = query.channel_args(await resolve(ws, principal, node, ref))
        channel, _ = await open_stream(coordinator, node, "logs", args, window=LOGS_WINDOW)
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


# ---- stats ----------------------------------------------------------------------------------


def sample_json(sample: dict[str, Any]) -> dict[str, Any]:
    """A stats sample as the API shows it (``read`` as an ISO 8601 time)."""
    return {**sample, "read": iso(sample.get("read"))}


@router.get("/containers/{ref}/stats")
async def container_stats(
    node: str, ref: str, request: Request, principal: NodeViewer
) -> dict[str, Any]:
    """One resource sample of a running container (409 when it does not run)."""
    coordinator = coordinator_of(request)
    ref = await resolve(request, principal, node, ref)
    sample = await coordinator.call(node, methods.CONTAINERS_STATS_ONCE, methods.RefArgs(ref))
    return sample_json(sample)


@router.websocket("/containers/{ref}/stats/ws")
@websocket_policy(Role.VIEWER, node=True)
async def container_stats_ws(ws: WebSocket, node: str, ref: str) -> None:
    """The kept history, then one JSON sample per engine sample (about one a second) until
    the container stops."""
    coordinator = coordinator_of(ws)
    try:
        principal = await authorize(ws, Role.VIEWER, node=node)
        args = {"ref": await resolve(ws, principal, node, ref)}
        channel, _ = await open_stream(coordinator, node, "stats", args)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    async with live_socket(ws, principal):
        # The coordinator's history first (oldest first), then the node's live samples.
        for sample in coordinator.fleet.history.samples(node, args["ref"]):
            await ws.send_text(json.dumps(sample_json(dataclasses.asdict(sample))))
        await relay(ws, channel, _send_samples(ws, channel), until_client_leaves(ws))


async def _send_samples(ws: WebSocket, channel: Channel) -> None:
    while (item := await channel.receive()) is not None:
        if item[0] == PLAIN:
            await ws.send_text(json.dumps(sample_json(json.loads(item[1]))))


@router.get("/streams")
async def node_streams(node: str, request: Request, principal: NodeAdmin) -> dict[str, Any]:
    """The streams open on the node right now, by kind (logs, stats, exec, tunnel)."""
    counts = await coordinator_of(request).call(node, methods.STREAMS_ACTIVE)
    return {"node_id": node, "channels": counts}


# ---- interactive exec -----------------------------------------------------------------------


@router.websocket("/containers/{ref}/exec/ws")
@websocket_policy(Role.OPERATOR, node=True)
async def container_exec_ws(ws: WebSocket, node: str, ref: str) -> None:
    """An interactive command: binary frames are stdin/output, text frames JSON control."""
    try:
        principal = await authorize(ws, Role.OPERATOR, node=node)
        channel = await _start_exec(ws, principal, node, ref)
    except DocklordError as exc:
        await close_ws(ws, exc)
        return
    await ws.accept()
    lock = asyncio.Lock()
    async with live_socket(ws, principal):
        await relay(ws, channel, _exec_output(ws, channel, lock), _exec_input(ws, channel, lock))


async def _start_exec(ws: WebSocket, principal: Principal, node: str, ref: str) -> Channel:
    """Check the request, start the command on the node, and audit the attempt either way."""
    coordinator = coordinator_of(ws)
    params: dict[str, Any] = {"cmd": ws.query_params.getlist("cmd") or ["sh"]}
    record = functools.partial(
        audit, ws, principal, "container.exec_session", node=node, params=params
    )
    try:
        query = parse_query(ExecQuery, {**ws.query_params, **params})
        params.update(tty=query.tty, user=query.user, workdir=query.workdir)
        ref = await resolve(ws, principal, node, ref)
        args = {"ref": ref, **query.model_dump(exclude_none=True)}
        channel, started = await open_stream(coordinator, node, "exec", args)
    except DocklordError as exc:
        await record(target=ref, error=exc)
        raise
    params["exec_id"] = started.get("exec_id")
    await record(target=ref)
    return channel


async def _exec_output(ws: WebSocket, channel: Channel, lock: asyncio.Lock) -> None:
    while (item := await channel.receive()) is not None:
        stream, data = item
        async with lock:
            if stream != CONTROL:
                await ws.send_bytes(data)
            elif (message := parse_control(data))["type"] == "exit":
                await ws.send_text(json.dumps(message))


async def _exec_input(ws: WebSocket, channel: Channel, lock: asyncio.Lock) -> None:
    while (incoming := await ws.receive())["type"] != "websocket.disconnect":
        if incoming.get("bytes"):
            await channel.send(incoming["bytes"], PLAIN)
        elif incoming.get("text") is not None:
            try:
                await channel.send(_exec_control(incoming["text"]), CONTROL)
            except InvalidInput as exc:
                async with lock:
                    await ws.send_text(json.dumps({"type": "error", "message": exc.message}))


def _exec_control(text: str) -> bytes:
    """A client's control message, checked, as the node's control frame."""
    message = parse_message({"text": text})
    if message["type"] == "eof":
        return EOF
    if message["type"] != "resize":
        raise InvalidInput(f"unknown control message type {message['type']!r}")
    rows, cols = message.get("rows"), message.get("cols")
    for value in (rows, cols):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
            raise InvalidInput("resize needs integer rows and cols between 1 and 10000")
    return control({"type": "resize", "rows": rows, "cols": cols})
