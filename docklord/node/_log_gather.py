"""Sending a container's output to a logs channel in few frames: what arrived together goes
together.

The engine gives one chunk per log message, so a container printing fast means one chunk per
line. Sent one by one, each line cost a channel frame (an envelope on the link, a frame for the
coordinator to take apart): at about 23,000 lines a second the node's event loop was busy all
the time (``bench.ui``, docs/BENCHMARKS.md). Chunk boundaries carry no meaning on a logs
channel (every reader cuts lines itself), so here the chunks read while the last send was
under way, or in one read of the engine's socket, are joined: one send per run of one stream.

A reader task takes the chunks from the engine into a list, and the sender takes the whole
list each time it comes round. The reader waits once the list holds :data:`GATHER_BYTES`, so
what is held stays bounded and the channel's credit is still the backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from docklord.link import Channel
from docklord.model import LogChunk
from docklord.node._log_follow import LogEnd
from docklord.protocol import CONTROL, STDERR, STDOUT, control

__all__ = ["GATHER_BYTES", "send_gathered"]

#: The reader stops reading from the engine while this much output waits to be sent.
GATHER_BYTES: Final = 256 * 1024


class _Done:
    """The engine's stream ended (``error`` set: with that error)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


async def send_gathered(chunks: AsyncIterator[LogChunk | LogEnd], channel: Channel) -> None:
    """Send every chunk to ``channel`` in order, joining those that wait together.

    A :class:`LogEnd` becomes the control ``{"type": "end", "reason": ...}``. Errors of the
    engine's stream are raised here, after what was read before them has been sent.
    """
    waiting: list[LogChunk | LogEnd | _Done] = []
    held = 0
    ready = asyncio.Event()
    room = asyncio.Event()
    room.set()

    async def read() -> None:
        nonlocal held
        try:
            async for chunk in chunks:
                waiting.append(chunk)
                ready.set()
                if isinstance(chunk, LogChunk):
                    held += len(chunk.data)
                    if held >= GATHER_BYTES:
                        room.clear()
                        await room.wait()
        except Exception as exc:  # noqa: BLE001 - handed to the sender, which raises it
            waiting.append(_Done(exc))
        else:
            waiting.append(_Done())
        ready.set()

    reader = asyncio.create_task(read(), name="logs-reader")
    try:
        while True:
            await ready.wait()
            ready.clear()
            batch = waiting.copy()
            waiting.clear()
            held = 0
            room.set()
            if await _send(batch, channel):
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _send(batch: list[LogChunk | LogEnd | _Done], channel: Channel) -> bool:
    """Send ``batch``, one frame per run of one stream; True once the stream ended."""
    run: list[bytes] = []
    run_stream = STDOUT
    for item in batch:
        if isinstance(item, LogChunk):
            stream = STDERR if item.stream == "stderr" else STDOUT
            if run and stream != run_stream:
                await channel.send(b"".join(run), run_stream)
                run = []
            run_stream = stream
            run.append(item.data)
            continue
        if run:
            await channel.send(b"".join(run), run_stream)
            run = []
        if isinstance(item, LogEnd):
            await channel.send(control({"type": "end", "reason": item.reason}), CONTROL)
        else:
            if item.error is not None:
                raise item.error
            return True
    if run:
        await channel.send(b"".join(run), run_stream)
    return False
