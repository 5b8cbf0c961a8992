"""Fixtures of the in-process coordinator tests: a link manager on a temporary SQLite store.

Nodes talk to it over in-memory transports (``docklord.link.memory_pair``) or over
:class:`RawTransport`, which hands the manager undecoded bytes and text as a WebSocket would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from docklord.coordinator import Fleet, LinkManager, NodeAuthenticator, Registration
from docklord.errors import InvalidInput, LinkClosed
from docklord.link import LinkSettings, Transport, memory_pair
from docklord.protocol import Envelope, decode
from docklord.store import Store


class RawTransport:
    """The coordinator's end of a link whose peer sent ``frames`` (bytes or text) and left.

    Receiving decodes like the WebSocket transport does: text or undecodable bytes raise
    ``InvalidInput``; after the last frame the link is closed.
    """

    def __init__(self, frames: Sequence[bytes | str], peer: str = "10.9.8.7:4000") -> None:
        self._frames = list(frames)
        self.peer = peer
        self.sent: list[Envelope] = []
        self.closed = False

    async def send(self, env: Envelope) -> None:
        if self.closed:
            raise LinkClosed("closed")
        self.sent.append(env)

    async def receive(self) -> Envelope:
        if self.closed or not self._frames:
            raise LinkClosed("the peer left")
        frame = self._frames.pop(0)
        if isinstance(frame, str):
            raise InvalidInput("text frame")
        return decode(frame)

    async def close(self) -> None:
        self.closed = True

    def reject_reason(self) -> str | None:
        """The reason of the ``Reject`` sent, if one was."""
        rejects = [e.reject for e in self.sent if e.WhichOneof("body") == "reject"]
        return rejects[0].reason if rejects else None


@dataclass
class Hub:
    """A running link manager; :meth:`connect` links a node to it in memory."""

    store: Store
    fleet: Fleet
    auth: NodeAuthenticator
    links: LinkManager
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self, peer: str = "10.0.0.1:5000") -> Transport:
        node_end, coordinator_end = memory_pair(names=(peer, "coordinator"))
        self.tasks.append(asyncio.create_task(self.links.serve(coordinator_end)))
        return node_end


async def _hub(tmp_path: Path, registration: Registration) -> AsyncIterator[Hub]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'coordinator.db'}")
    fleet = Fleet()
    auth = NodeAuthenticator(store, registration)
    links = LinkManager(
        fleet, auth, coordinator_id="test", settings=LinkSettings(ping_interval=0.5, dead_after=5)
    )
    hub = Hub(store, fleet, auth, links)
    try:
        yield hub
    finally:
        await links.aclose()
        for task in hub.tasks:
            task.cancel()
        await asyncio.gather(*hub.tasks, return_exceptions=True)
        await store.aclose()


@pytest.fixture
async def open_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A link manager with open registration."""
    async for hub in _hub(tmp_path, Registration.OPEN):
        yield hub


@pytest.fixture
async def enroll_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A link manager that admits registered nodes only."""
    async for hub in _hub(tmp_path, Registration.ENROLL):
        yield hub
