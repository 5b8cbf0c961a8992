"""An in-process transport pair, for tests and the all-in-one mode."""

from __future__ import annotations

import asyncio
from collections import deque

from docklord.errors import LinkClosed
from docklord.link._transport import Transport
from docklord.protocol import Envelope

__all__ = ["MemoryPipe", "memory_pair"]


class MemoryPipe:
    """A bounded FIFO of envelopes with an end: ``put`` waits while full, ``get`` while empty.

    After :meth:`close`, ``put`` raises and ``get`` drains what is left, then raises, like a
    socket whose peer closed after writing.
    """

    def __init__(self, maxsize: int, *, sender: str, receiver: str) -> None:
        self._items: deque[Envelope] = deque()
        self._maxsize = maxsize
        self._sender = sender
        self._receiver = receiver
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._end_reason: str | None = None
        self.closed = False

    async def put(self, env: Envelope) -> None:
        """Appends one envelope, waiting for room."""
        while len(self._items) >= self._maxsize and not self.closed:
            self._writable.clear()
            await self._writable.wait()
        if self.closed:
            raise LinkClosed(self._end_reason or f"link to {self._receiver} is closed")
        self._items.append(env)
        self._readable.set()

    async def get(self) -> Envelope:
        """Takes the oldest envelope, waiting for one."""
        while not self._items:
            if self.closed:
                raise LinkClosed(self._end_reason or f"{self._sender} closed the link")
            self._readable.clear()
            await self._readable.wait()
        env = self._items.popleft()
        if len(self._items) < self._maxsize:
            self._writable.set()
        return env

    def close(self, reason: str | None = None) -> None:
        """Ends the pipe and wakes every waiter; ``reason`` is what ``put`` and ``get`` raise."""
        if not self.closed:
            self._end_reason = reason
        self.closed = True
        self._readable.set()
        self._writable.set()


class _MemoryTransport:
    def __init__(self, inbox: MemoryPipe, outbox: MemoryPipe, peer: str) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._peer = peer
        self._closed = False

    @property
    def peer(self) -> str:
        return self._peer

    async def send(self, env: Envelope) -> None:
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        await self._outbox.put(env)

    async def receive(self) -> Envelope:
        if self._closed:
            raise LinkClosed(f"link to {self._peer} is closed")
        return await self._inbox.get()

    async def close(self) -> None:
        self._closed = True
        self._inbox.close()
        self._outbox.close()


def memory_pair(
    *, maxsize: int = 64, names: tuple[str, str] = ("memory:dialer", "memory:acceptor")
) -> tuple[Transport, Transport]:
    """Two connected in-memory transports: what one sends, the other receives.

    Envelopes are handed over as objects (not re-encoded), so senders must not mutate them.
    Each direction buffers at most ``maxsize`` frames, then ``send`` waits, as a socket would.

    Args:
        maxsize: frames buffered per direction.
        names: the names of the dialing and the accepting end; each end's ``peer`` is the
            other's name.

    Returns:
        ``(dialer_end, acceptor_end)``.
    """
    if maxsize < 1:
        raise ValueError("maxsize must be at least 1")
    dialer_name, acceptor_name = names
    to_acceptor = MemoryPipe(maxsize, sender=dialer_name, receiver=acceptor_name)
    to_dialer = MemoryPipe(maxsize, sender=acceptor_name, receiver=dialer_name)
    dialer = _MemoryTransport(inbox=to_dialer, outbox=to_acceptor, peer=acceptor_name)
    acceptor = _MemoryTransport(inbox=to_acceptor, outbox=to_dialer, peer=dialer_name)
    return dialer, acceptor
