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

from docklord.engine._types import LogChunk
from docklord.errors import EngineError

__all__ = ["FrameDecoder", "json_lines"]

_HEADER = 8
_STREAMS: dict[int, Literal["stdout", "stderr"]] = {0: "stdout", 1: "stdout", 2: "stderr"}


class FrameDecoder:
    """Incremental demultiplexer: feed bytes as they arrive, get :class:`LogChunk` values.

    Consecutive frames of the same stream found in one ``feed`` are joined into one chunk,
    which keeps 200k one-line frames cheap; bytes and their order are never changed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

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
            if stream != current and parts:
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


async def json_lines(response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
    """The JSON documents of a newline-delimited stream, until the engine ends it."""
    while True:
        line = await response.content.readline()
        if not line:
            return
        if line.strip():
            yield json.loads(line)
