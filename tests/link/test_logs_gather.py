"""The node's logs channel sends what arrived together in one frame per stream run
(``docklord.node._log_gather``), over a real link session pair: same bytes, same order, far
fewer frames, the end and an engine error after the lines before them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from link_helpers import PairFactory

from docklord.errors import NotFound
from docklord.link import Channel
from docklord.model import LogChunk
from docklord.node._log_follow import LogEnd
from docklord.node._log_gather import send_gathered
from docklord.protocol import CONTROL, STDERR, STDOUT, parse_control

LINES = 3000
#: The fake engine hands over this many messages per socket read (it yields the loop between).
PER_READ = 300


def _line(n: int) -> LogChunk:
    return LogChunk("stderr" if n % 1000 == 999 else "stdout", f"line {n}\n".encode())


async def _engine(
    count: int = LINES, *, end: bool = False, error: bool = False
) -> AsyncIterator[LogChunk | LogEnd]:
    for n in range(count):
        if n % PER_READ == 0:
            await asyncio.sleep(0)  # the next read of the engine's socket
        yield _line(n)
    if error:
        raise NotFound("no such container: gone")
    if end:
        yield LogEnd("removed")


async def _read_all(channel: Channel) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    while (item := await channel.receive()) is not None:
        frames.append(item)
    return frames


def _runs(frames: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Adjacent frames of one stream joined: what a reader that cuts lines sees."""
    out: list[tuple[int, bytes]] = []
    for stream, data in frames:
        if out and out[-1][0] == stream and stream != CONTROL:
            out[-1] = (stream, out[-1][1] + data)
        else:
            out.append((stream, data))
    return out


def _expected(count: int = LINES) -> list[tuple[int, bytes]]:
    lines = [_line(n) for n in range(count)]
    return _runs([(STDERR if c.stream == "stderr" else STDOUT, c.data) for c in lines])


async def test_lines_that_arrive_together_travel_in_few_frames(link_pair: PairFactory) -> None:
    async def handler(channel: Channel) -> None:
        await send_gathered(_engine(end=True), channel)

    pair = await link_pair(acceptor={"on_channel": handler})
    channel = await pair.dialer.open_channel("logs", window=1024 * 1024)
    frames = await _read_all(channel)
    assert frames[-1][0] == CONTROL
    assert parse_control(frames[-1][1]) == {"type": "end", "reason": "removed"}
    data = frames[:-1]
    assert _runs(data) == _expected()  # every byte, in order, each stream apart
    # One send per engine read and stream run, not one per line (3,000 before).
    assert len(data) <= 2 * LINES // PER_READ + 6, len(data)


async def test_an_engine_error_comes_after_the_lines_read_before_it(
    link_pair: PairFactory,
) -> None:
    async def handler(channel: Channel) -> None:
        await send_gathered(_engine(500, error=True), channel)

    pair = await link_pair(acceptor={"on_channel": handler})
    channel = await pair.dialer.open_channel("logs", window=1024 * 1024)
    frames: list[tuple[int, bytes]] = []
    with pytest.raises(NotFound, match="gone"):
        while (item := await channel.receive()) is not None:
            frames.append(item)
    assert _runs(frames) == _expected(500)


async def test_a_small_window_still_carries_every_line(link_pair: PairFactory) -> None:
    async def handler(channel: Channel) -> None:
        await send_gathered(_engine(), channel)

    pair = await link_pair(acceptor={"on_channel": handler})
    # 4 KiB of credit: the sender waits for the reader over and over; nothing is lost.
    channel = await pair.dialer.open_channel("logs", window=4096)
    assert _runs(await _read_all(channel)) == _expected()
