"""Byte-level readers for the engine's stream formats.

Two formats matter: the multiplexed stdout/stderr stream of non-TTY containers and execs
(an 8-byte header ``[stream, 0, 0, 0, size(4, big endian)]`` before each payload), and
newline-delimited JSON (events, stats, pull progress).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp

from docklord.errors import EngineError
from docklord.model import LogChunk

__all__ = ["MAX_JSON_LINE", "FrameDecoder", "Oversized", "json_lines"]

_HEADER = 8
_STREAMS: dict[int, Literal["stdout", "stderr"]] = {0: "stdout", 1: "stdout", 2: "stderr"}


class FrameDecoder:
    """Incremental demultiplexer: feed bytes as they arrive, get :class:`LogChunk` values.

    Consecutive frames of the same stream found in one ``feed`` are joined into one chunk,
    which keeps 200k one-line frames cheap; bytes and their order are never changed. With
    ``join=False`` every frame is a chunk of its own.
    """

    def __init__(self, *, join: bool = True) -> None:
        self._buffer = bytearray()
        self._join = join  # ``False``: one chunk per frame (a frame is one log message)

    def feed(self, data: bytes) -> list[LogChunk]:
        """Decode every complete frame now buffered; keep a partial one for later."""
        buf = self._buffer
        buf += data
        chunks: list[LogChunk] = []
        parts: list[bytes] = []
        current: Literal["stdout", "stderr"] = "stdout"
        pos, end = 0, len(buf)
        while end - pos >= _HEADER:
            size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if pos + _HEADER + size > end:
                break
            stream = _STREAMS.get(buf[pos], "stdout")
            if (stream != current or not self._join) and parts:
                chunks.append(LogChunk(current, b"".join(parts)))
                parts = []
            current = stream
            parts.append(bytes(buf[pos + _HEADER : pos + _HEADER + size]))
            pos += _HEADER + size
        if parts:
            chunks.append(LogChunk(current, b"".join(parts)))
        del buf[:pos]
        return chunks

    def finish(self) -> None:
        """Call at end of stream.

        Raises:
            EngineError: the stream stopped in the middle of a frame.
        """
        if self._buffer:
            size = len(self._buffer)
            raise EngineError(f"the engine's output stream ended inside a frame ({size} bytes)")


#: The longest JSON line :func:`json_lines` reads whole. aiohttp's own ``readline`` stops at
#: 128 KiB-512 KiB (``LineTooLong``), but one event carries every label of its container and
#: the full command of an exec, which the engine does not bound.
MAX_JSON_LINE = 8 * 1024 * 1024


class Oversized:
    """What :func:`json_lines` yields in place of a line longer than its limit (skipped)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


async def json_lines(
    response: aiohttp.ClientResponse, *, max_line: int = MAX_JSON_LINE
) -> AsyncIterator[Any]:
    """The JSON documents of a newline-delimited stream, until the engine ends it.

    A line longer than ``max_line`` bytes is skipped (its bytes are dropped as they arrive,
    never buffered) and an :class:`Oversized` takes its place, so one huge document can neither
    exhaust memory nor end the stream.
    """
    buffer = bytearray()
    skipped = 0  # > 0 while dropping the rest of an oversized line
    async for data in response.content.iter_any():
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            if skipped:
                yield Oversized(skipped + newline - start)
                skipped = 0
            else:
                buffer += data[start:newline]
                if buffer.strip():
                    yield json.loads(buffer)
                buffer.clear()
            start = newline + 1
        rest = len(data) - start
        if skipped:
            skipped += rest
        elif len(buffer) + rest > max_line:
            skipped = len(buffer) + rest
            buffer.clear()
        else:
            buffer += data[start:]
    if skipped:
        yield Oversized(skipped)
    elif buffer.strip():
        yield json.loads(buffer)
