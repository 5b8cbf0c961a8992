from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from docklord import __version__
from docklord.link import LinkSession, LinkSettings, Transport, connect_websocket, dial
from docklord.protocol import PROTOCOL_VERSION
from docklord.protocol import docklord_pb2 as pb

__all__ = ["SimulatedNode"]


class SimulatedNode:
    """A node without an engine: it links like a real node and reports made-up containers.

    For scale tests and benchmarks: thousands of them fit in one process. It answers the
    handshake like :class:`docklord.node.NodeAgent`, sends a snapshot of ``containers`` running
    containers, and sends one event per :meth:`emit` (a container pausing or resuming), stamped
    with the time it was emitted so that a client can measure the latency end to end.

    To probe the coordinator's checks it can also report what a broken node would: any
    ``hostname`` or ``engine_message``, or its own ``summaries`` (``NaN`` times, huge labels).

    Args:
        url: the coordinator (``ws://HOST:PORT``); unused when ``connect`` is given.
        node_id, password: the node's credentials.
        containers: how many made-up running containers it reports.
        summaries: reported instead of the made-up containers, as they are.
        hostname: ``Hello.hostname``.
        engine_message: ``EngineStatus.message`` in the snapshot.
        connect: makes the transport (an in-memory one, say) instead of dialing ``url``.
    """

    def __init__(
        self,
        url: str,
        node_id: str,
        password: str,
        *,
        containers: int = 50,
        summaries: Sequence[pb.ContainerSummary] | None = None,
        hostname: str = "simulated",
        engine_message: str = "",
        connect: Callable[[], Awaitable[Transport]] | None = None,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.password = password
        self.hostname = hostname
        self.engine_message = engine_message
        self._connect = connect
        self.seq = int(time.time() * 1_000_000)
        self.base_seq = self.seq
        now = time.time()
        self.containers = [
            pb.ContainerSummary(
                id=f"{node_id}-{i:04d}".ljust(64, "0"),
                name=f"{node_id}-c{i}",
                image="docklord-test/sim:latest",
                state="running",
                status="Up 1 second",
                created=now,
                started_at=now,
            )
            for i in range(containers)
        ]
        if summaries is not None:
            self.containers = list(summaries)
        self.linked = asyncio.Event()
        self._queue: asyncio.Queue[pb.Event] = asyncio.Queue()

    def emit(self, index: int | None = None) -> pb.ContainerSummary:
        """Queue one event: a container (random, or ``containers[index]``) pauses, or resumes
        if paused; returns it."""
        pick = random.choice  # noqa: S311 - not for security
        summary = pick(self.containers) if index is None else self.containers[index]
        paused = summary.state == "paused"
        summary.state = "running" if paused else "paused"
        self.seq += 1
        event = pb.Event(
            seq=self.seq,
            type="container",
            action="unpause" if paused else "pause",
            actor_id=summary.id,
            time_nano=time.time_ns(),
        )
        event.container.CopyFrom(summary)
        self._queue.put_nowait(event)
        return summary

    async def run(self) -> None:
        """Link, send the snapshot, then forward emitted events until cancelled."""
        if self._connect is not None:
            transport = await self._connect()
        else:
            transport = await connect_websocket(self.url.rstrip("/") + "/api/v1/link")
        hello = pb.Hello(
            node_id=self.node_id,
            proof=self.password,
            agent_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            hostname=self.hostname,
            seq=self.seq,
        )
        try:
            # A storm of a thousand handshakes may keep the coordinator busy for a while.
            welcome = await dial(transport, hello, timeout=60)
        except BaseException:
            await transport.close()
            raise
        settings = LinkSettings.for_ping_interval_ms(welcome.ping_interval_ms)
        async with LinkSession(
            transport, name=self.node_id, settings=settings, dialer=True
        ) as session:
            snapshot = pb.Snapshot(base_seq=self.base_seq, seq=self.seq, containers=self.containers)
            snapshot.engine.CopyFrom(pb.EngineStatus(available=True, message=self.engine_message))
            await session.send(pb.Envelope(snapshot=snapshot))
            self.linked.set()
            forward = asyncio.create_task(self._forward(session))
            try:
                await session.run()
            finally:
                forward.cancel()
                await asyncio.gather(forward, return_exceptions=True)

    async def _forward(self, session: LinkSession) -> None:
        while True:
            events = [await self._queue.get()]
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
            await session.send(pb.Envelope(events=pb.EventBatch(events=events)))
