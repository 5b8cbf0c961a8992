"""The node's side of the streams: logs, stats, interactive exec and the Docker API tunnel.

Every stream is a link channel the coordinator opens (DESIGN §2). The channel's byte credit is
the backpressure: a handler awaits ``Channel.send`` and so reads from the engine only as fast
as the far client takes the data, and buffers at most one window.

Frames on a channel carry a stream number: 0 plain data or stdin, 1 stdout, 2 stderr and
3 control (one JSON object); the format is defined once, in ``docklord.protocol._channels``.
The channel kinds (``docklord.protocol.methods``: ``LOGS``, ``STATS``, ``EXEC_SESSION``,
``TUNNEL``; their arguments are decoded with the kind's type before a handler runs):

``logs`` (args ``ref, stdout, stderr, tail, since, until, timestamps, follow, follow_restarts``)
    A control ``{"type": "ready"}`` once the container was found, then the output as stdout
    and stderr frames; the channel closes when the output ends (with ``follow``: when the
    container stops). A follow the engine ends early is resumed by the engine layer
    (``engine._streams``), with no line lost or repeated. ``since`` may be
    ``"now"``: the node's clock when the stream opens, so that every line written after
    ``ready`` arrives and none before it. With ``follow_restarts`` (implies ``follow``) the
    stream carries on across restarts and later starts (``docklord.node._log_follow``) and
    ends with a control ``{"type": "end", "reason": "removed" | "until"}``.
``stats`` (args ``ref``)
    ``ready``, then one JSON :class:`~docklord.model.StatsSample` per frame (about one a
    second) until the container stops. A container that does not run is a ``conflict``.
``exec`` (args ``ref, cmd, tty, user, workdir, env, rows, cols``)
    Node to coordinator: ``{"type": "started", "exec_id"}``, the output as stdout/stderr
    frames, then ``{"type": "exit", "exit_code"}``. Coordinator to node: stdin as stream 0,
    controls ``{"type": "resize", "rows", "cols"}`` and ``{"type": "eof"}`` (close stdin).
``tunnel`` (no args)
    ``ready`` once a fresh connection to the engine socket is open, then raw bytes both ways
    as stream 0. ``{"type": "eof"}`` says one side has no more to send (a TCP half-close);
    the channel ends when both sides said so, or when the coordinator closes it.

Request methods: ``containers.stats_once`` (one sample), ``littlewings.command`` (``sh -c``
one-shot for the LittleWings socket) and ``streams.active`` (open streams by kind).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog

from docklord._aio import first_of
from docklord.engine import Engine, ExecSession
from docklord.errors import Conflict, InvalidInput
from docklord.link import Channel
from docklord.model import LogChunk
from docklord.node._handlers import ChannelHandler, Method, serve, serve_channel
from docklord.node._log_follow import LogEnd, follow_across_starts
from docklord.node._log_gather import send_gathered
from docklord.protocol import (
    CONTROL,
    EOF,
    PLAIN,
    READY,
    STDERR,
    STDOUT,
    control,
    parse_control,
)
from docklord.protocol import methods as m
from docklord.protocol.methods import Json

__all__ = ["channels", "methods"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
A = TypeVar("A", bound=m.MethodArgs)

_READ_SIZE = 64 * 1024
_EXIT_GRACE = 2.0
_STATS_RETRIES = 10


# Open streams per engine (one per node process, but tests build several).
_active: weakref.WeakKeyDictionary[Engine, Counter[str]] = weakref.WeakKeyDictionary()


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module."""

    async def stats_once(args: m.RefArgs) -> Json:
        try:
            return dataclasses.asdict(await engine.stats_once(args.ref))
        except Conflict:
            # Just after a start the engine answers with an empty sample: ask once more.
            if (await engine.get_summary(args.ref)).state != "running":
                raise
            return dataclasses.asdict(await engine.stats_once(args.ref))

    async def command(args: m.CommandArgs) -> m.CommandOutput:
        return await _command(engine, args)

    async def active(args: m.NoArgs) -> dict[str, int]:
        counts = _active.get(engine, Counter())
        return {kind: counts[kind] for kind in ("logs", "stats", "exec", "tunnel")}

    return dict(
        [
            serve(m.CONTAINERS_STATS_ONCE, stats_once),
            serve(m.LITTLEWINGS_COMMAND, command),
            serve(m.STREAMS_ACTIVE, active),
        ]
    )


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module."""
    return dict(
        (
            _counted(engine, m.LOGS, _logs),
            _counted(engine, m.STATS, _stats),
            _counted(engine, m.EXEC_SESSION, _exec),
            _counted(engine, m.TUNNEL, _tunnel),
        )
    )


def _counted(
    engine: Engine,
    kind: m.ChannelKind[A],
    handler: Callable[[Engine, Channel, A], Awaitable[None]],
) -> tuple[str, ChannelHandler]:
    counts = _active.setdefault(engine, Counter())

    async def run(channel: Channel, args: A) -> None:
        counts[kind.name] += 1
        try:
            await handler(engine, channel, args)
        finally:
            counts[kind.name] -= 1

    return serve_channel(kind, run)


# ---- logs and stats -------------------------------------------------------------------------


async def _logs(engine: Engine, channel: Channel, args: m.LogsArgs) -> None:
    ref = args.ref
    since = time.time() if args.since == "now" else args.since
    await engine.get_summary(ref)
    await channel.send(READY, CONTROL)
    options: dict[str, Any] = {
        "stdout": args.stdout,
        "stderr": args.stderr,
        "tail": args.tail,
        "since": since,
        "until": args.until,
        "timestamps": args.timestamps,
    }
    chunks: AsyncIterator[LogChunk | LogEnd]
    if args.follow_restarts:
        chunks = follow_across_starts(engine, ref, **options)
    else:
        chunks = engine.logs(ref, follow=args.follow, **options)

    async def pump() -> None:
        async with _closing(chunks) as stream:
            await send_gathered(stream, channel)

    await first_of(pump(), _until_closed(channel))


async def _stats(engine: Engine, channel: Channel, args: m.RefArgs) -> None:
    ref = args.ref
    summary = await engine.get_summary(ref)
    if summary.state != "running":
        raise Conflict(f"container {ref} is not running ({summary.state})")
    await channel.send(READY, CONTROL)

    await first_of(_pump_stats(engine, ref, channel), _until_closed(channel))


async def _pump_stats(engine: Engine, ref: str, channel: Channel) -> None:
    # The engine ends a stats stream with an empty sample when the container stops, and
    # also sends one just after a start: follow again while the container still runs.
    empty = 0
    while empty < _STATS_RETRIES:
        empty += 1
        async with _closing(engine.stats(ref)) as samples:
            async for sample in samples:
                empty = 0
                await channel.send(control(dataclasses.asdict(sample)), PLAIN)
        if (await engine.get_summary(ref)).state != "running":
            return
        await asyncio.sleep(0.2)


@asynccontextmanager
async def _closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close the engine stream (and so its connection) however the consumer stops."""
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


async def _until_closed(channel: Channel) -> None:
    """Returns when the coordinator closes the channel (it sends nothing on this kind)."""
    while await channel.receive() is not None:
        pass


# ---- exec -----------------------------------------------------------------------------------


async def _command(engine: Engine, args: m.CommandArgs) -> m.CommandOutput:
    # The documented LittleWings behaviour: the text is ONE argument of sh in the container.
    cmd = ["sh", "-c", args.command]
    result = await engine.exec_run(args.ref, cmd, timeout=args.timeout)
    return m.CommandOutput(
        exit_code=result.exit_code,
        stdout=result.stdout.decode(errors="replace"),
        stderr=result.stderr.decode(errors="replace"),
        timed_out=result.timed_out,
    )


async def _exec(engine: Engine, channel: Channel, args: m.ExecSessionArgs) -> None:
    tty, rows, cols = args.tty, args.rows, args.cols
    session = await engine.exec_interactive(
        args.ref,
        args.cmd,
        tty=tty,
        env=args.env or None,
        workdir=args.workdir,
        user=args.user,
        size=(rows, cols) if rows and cols else None,
    )
    async with session:
        await channel.send(control({"type": "started", "exec_id": session.id}), CONTROL)
        await first_of(_exec_output(session, channel), _exec_input(session, channel, tty))


async def _exec_output(session: ExecSession, channel: Channel) -> None:
    while (chunk := await session.read_chunk()) is not None:
        await channel.send(chunk.data, STDERR if chunk.stream == "stderr" else STDOUT)
    code = await _exit_code(session)
    await channel.send(control({"type": "exit", "exit_code": code}), CONTROL)


async def _exit_code(session: ExecSession) -> int | None:
    """The engine records the exit code just after the output ends: poll briefly."""
    for _ in range(int(_EXIT_GRACE / 0.02)):
        code = await session.exit_code()
        if code is not None:
            return code
        await asyncio.sleep(0.02)
    return await session.exit_code()


async def _exec_input(session: ExecSession, channel: Channel, tty: bool) -> None:
    stdin_open = True
    while (item := await channel.receive()) is not None:
        stream, data = item
        if stream != CONTROL:
            if stdin_open and data:
                await session.write(data)
            continue
        message = parse_control(data)
        if message["type"] == "eof" and stdin_open:
            stdin_open = False
            await session.close_stdin()
        elif message["type"] == "resize" and tty:
            await session.resize(_size(message, "rows"), _size(message, "cols"))


def _size(message: dict[str, Any], name: str) -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
        raise InvalidInput(f"resize needs {name} between 1 and 10000")
    return value


# ---- the Docker API tunnel ------------------------------------------------------------------


async def _tunnel(engine: Engine, channel: Channel, args: m.NoArgs) -> None:
    reader, writer = await engine.open_raw()
    try:
        await channel.send(READY, CONTROL)
        await _relay(channel, reader, writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            # The engine may have closed first; there is nothing left to lose.
            log.debug("tunnel.engine_close", error=str(exc))


async def _relay(
    channel: Channel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Copy both ways until both sides sent EOF, or the coordinator closed the channel."""
    client_eof = asyncio.Event()
    up = asyncio.create_task(_to_engine(channel, writer, client_eof))
    down = asyncio.create_task(_from_engine(channel, reader))
    eof = asyncio.create_task(client_eof.wait())
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if not up.done():
            down.result()
            # The engine said all it had to say; the client may still be sending.
            await asyncio.wait({up, eof}, return_when=asyncio.FIRST_COMPLETED)
        if up.done():
            up.result()  # the channel closed (the client went away), or a bad frame
    finally:
        for task in (up, down, eof):
            task.cancel()
        await asyncio.gather(up, down, eof, return_exceptions=True)


async def _to_engine(
    channel: Channel, writer: asyncio.StreamWriter, client_eof: asyncio.Event
) -> None:
    """Copy the client's bytes to the engine until the channel closes."""
    while (item := await channel.receive()) is not None:
        stream, data = item
        if stream == CONTROL:
            if parse_control(data)["type"] == "eof" and not client_eof.is_set():
                client_eof.set()
                if writer.can_write_eof():
                    writer.write_eof()
        elif not client_eof.is_set():
            writer.write(data)
            await writer.drain()


async def _from_engine(channel: Channel, reader: asyncio.StreamReader) -> None:
    while data := await reader.read(_READ_SIZE):
        await channel.send(data, PLAIN)
    await channel.send(EOF, CONTROL)
