"""Helpers shared by the link tests (a uniquely named module, importable from test files)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from docklord.link import Channel, LinkSession, Transport
from docklord.protocol import Envelope


@dataclass
class Pair:
    """Two running sessions: ``dialer`` (the node's end) and ``acceptor`` (the coordinator's)."""

    dialer: LinkSession
    acceptor: LinkSession
    dialer_transport: Transport
    acceptor_transport: Transport
    dialer_run: asyncio.Task[None]
    acceptor_run: asyncio.Task[None]

    async def aclose(self) -> None:
        await self.dialer.aclose()
        await self.acceptor.aclose()
        # Outcomes are asserted by the tests that care; here they are only collected.
        await asyncio.gather(self.dialer_run, self.acceptor_run, return_exceptions=True)


PairFactory = Callable[..., Awaitable[Pair]]


def start(session: LinkSession) -> asyncio.Task[None]:
    """Runs a session in a task."""
    return asyncio.create_task(session.run(), name=f"test-run {session!r}")


async def read_exactly(channel: Channel, size: int) -> bytes:
    """Reads ``size`` bytes from a channel, failing if it ends first."""
    chunks: list[bytes] = []
    got = 0
    while got < size:
        item = await channel.receive()
        assert item is not None, f"channel ended after {got} of {size} bytes"
        chunks.append(item[1])
        got += len(item[1])
    return b"".join(chunks)


async def next_frame(transport: Transport, kind: str) -> Envelope:
    """Reads raw frames (unpacking batches) until one of ``kind`` arrives."""
    while True:
        env = await transport.receive()
        for frame in env.batch.envelopes if env.HasField("batch") else [env]:
            if frame.WhichOneof("body") == kind:
                return frame


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
