"""The plumbing every stream route shares: query parameters, opening a link channel to the
container's node, and relaying it to a client.

Each stream opens a link channel to the node (see ``docklord.protocol._channels`` for the
frames); the channel's byte credit carries backpressure end to end, so a slow client slows the
engine read instead of losing lines or growing a buffer. Closing the client closes the channel,
which stops the engine stream on the node.

WebSocket close codes (``docklord.web._ws_close``): 1000 the stream ended; 4400 bad request;
``4000 + status`` for other errors (4401, 4403, 4404 no such node or container, 4409 not running
or ambiguous, 4502 engine error, 4503 node offline, 4504 timeout).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, ValidationError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from docklord._aio import first_of
from docklord.coordinator import Coordinator
from docklord.errors import DocklordError, InvalidInput, RequestTimeout
from docklord.link import Channel
from docklord.protocol import CONTROL, PLAIN, STDERR, STDOUT, methods, parse_control
from docklord.protocol.methods import ChannelKind, MethodArgs
from docklord.web._auth import Principal, Role, require_node
from docklord.web._deps import coordinator_of
from docklord.web._ws_close import close_ws

__all__ = [
    "MAX_LINE",
    "ChannelResponse",
    "LineSplitter",
    "Moment",
    "end_reason",
    "lines_json",
    "open_stream",
    "parse_query",
    "parse_time",
    "relay",
    "router",
    "until_client_leaves",
]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/nodes/{node}")

NodeAdmin = Annotated[Principal, Depends(require_node(Role.ADMIN))]

#: A line longer than this is cut (the engine's own log drivers cut at 16 KiB).
MAX_LINE = 1024 * 1024
_STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr", PLAIN: "stdout"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h)")
_UNITS = {"s": 1, "m": 60, "h": 3600}

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A", bound=MethodArgs)


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
    coordinator: Coordinator,
    node: str,
    kind: ChannelKind[A],
    args: A | None = None,
    *,
    window: int = 256 * 1024,
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
            raise DocklordError(f"node {node} opened the {kind.name} stream without a ready frame")
        return channel, parse_control(first[1])
    except TimeoutError as exc:
        await channel.close()
        raise RequestTimeout(f"node {node} did not open the {kind.name} stream in time") from exc
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


def end_reason(data: bytes) -> str | None:
    """The reason of the node's ``end`` control frame (``None`` for any other control)."""
    message = parse_control(data)
    reason = message.get("reason")
    return str(reason) if message["type"] == "end" and reason is not None else None


@router.get("/streams")
async def node_streams(node: str, request: Request, principal: NodeAdmin) -> dict[str, Any]:
    """The streams open on the node right now, by kind (logs, stats, exec, tunnel)."""
    counts = await coordinator_of(request).call(node, methods.STREAMS_ACTIVE)
    return {"node_id": node, "channels": counts}
