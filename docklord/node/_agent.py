from __future__ import annotations

import asyncio
import random
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

import docklord.link
from docklord import __version__
from docklord._aio import first_of
from docklord.config import NodeConfig
from docklord.engine import Engine
from docklord.errors import ConfigError, HandshakeRejected, LinkClosed, LinkError
from docklord.link import LinkSession, LinkSettings, Transport, connect_websocket, dial
from docklord.node._identity import NodeIdentity, load_identity, save_identity
from docklord.node._operations import Operations
from docklord.node._sampler import Sampler
from docklord.node._watcher import Watcher
from docklord.protocol import PROTOCOL_VERSION, engine_info_to_proto, summary_to_proto
from docklord.protocol import docklord_pb2 as pb

__all__ = ["FATAL_REJECTIONS", "NodeAgent"]

log = structlog.get_logger(__name__)

#: Rejections that retrying cannot fix: the agent stops and says why.
FATAL_REJECTIONS = frozenset({"bad_credentials", "revoked", "unsupported_version", "invalid"})

SNAPSHOT_JOURNAL = 2_000
#: Seconds a shutdown (SIGTERM) waits for the requests being served before closing the link.
SHUTDOWN_GRACE = 10.0


class NodeAgent:
    """The node: follows the local engine and keeps one link to a coordinator.

    The agent dials out (nodes need no inbound port), tries the configured coordinator URLs in
    turn, and reconnects with exponential backoff and jitter. After each handshake it catches
    the coordinator up from the journal, or sends a full snapshot when the journal has a gap,
    then streams events as they happen and serves requests concurrently.

    A first start without credentials generates an identity and stores it in the state dir
    (``node.json``, mode 0600). Its password is announced only when stdout is a terminal;
    otherwise (a service, a log file) the announcement names the file instead.

    :meth:`shutdown` (``docklord node`` calls it on SIGTERM) drains the link: new requests
    are refused, the ones being served get ``grace`` seconds to answer, queued events and
    answers are flushed, and the link closes with a normal close frame, so the coordinator
    marks the node offline at once. Then :meth:`run` returns.
    """

    def __init__(
        self,
        config: NodeConfig,
        *,
        engine: Engine | None = None,
        connect: Callable[[str], Awaitable[Transport]] | None = None,
        announce: Callable[[str], None] = print,
        on_terminal: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine or Engine(config.docker_host or None)
        self.watcher = Watcher(self.engine, journal_size=config.event_journal)
        self.sampler = Sampler(self.engine, self.watcher, interval=config.stats_interval)
        self.operations = Operations(
            self.engine,
            instances=config.instance_settings(),
        )
        self.identity: NodeIdentity | None = None
        self.connected = asyncio.Event()
        #: The live link, while there is one.
        self.session: LinkSession | None = None
        self._stop = asyncio.Event()
        self._grace = SHUTDOWN_GRACE
        self._connect = connect
        self._announce = announce
        # Whether ``announce`` reaches a person's terminal (the default: stdout is a TTY).
        self._on_terminal = on_terminal or sys.stdout.isatty

    async def run(self) -> None:
        """Run until :meth:`shutdown`, cancelled, or rejected by the coordinator for good."""
        self.identity = self._resolve_identity()
        try:
            async with asyncio.TaskGroup() as tasks:
                children = [
                    tasks.create_task(self.watcher.run(), name="watcher"),
                    tasks.create_task(self.sampler.run(), name="sampler"),
                    tasks.create_task(self._link_forever(), name="link"),
                ]
                await self._stop.wait()
                await self._close_link()
                for child in children:
                    child.cancel()
        finally:
            await self.engine.aclose()

    def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Ask :meth:`run` to drain the link (``grace`` seconds at most) and return.

        Safe to call from a signal handler; calling it again changes nothing.
        """
        if not self._stop.is_set():
            self._grace = grace
            self._stop.set()

    async def _close_link(self) -> None:
        session = self.session
        if session is None or session.closed:
            return
        started = time.monotonic()
        left = await session.drain(self._grace)
        # aclose() sends what is queued (answers, events) before the close frame.
        await session.aclose()
        log.info(
            "link drained", seconds=round(time.monotonic() - started, 3), requests_cut_off=left
        )

    def _resolve_identity(self) -> NodeIdentity | None:
        cfg = self.config
        if cfg.node_id and cfg.password:
            return NodeIdentity(cfg.node_id, cfg.password)
        if cfg.node_id or cfg.password:
            raise ConfigError("--node-id and --password go together")
        stored = load_identity(cfg.state_dir)
        if stored is not None or cfg.enroll_token:
            return stored
        identity = NodeIdentity.generate()
        path = save_identity(cfg.state_dir, identity)
        self._announce(self._first_start_message(identity, path))
        return identity

    def _first_start_message(self, identity: NodeIdentity, path: Path) -> str:
        # A service's stdout ends up in journald or a log file, which more people read than
        # the 0600 state file: there the secret is only pointed at.
        if self._on_terminal():
            return (
                f"Docklord node credentials (shown once; stored in {path}):\n"
                f"  node_id:  {identity.node_id}\n  password: {identity.password}"
            )
        return (
            f"Docklord node registered as node_id {identity.node_id}; its password is in "
            f"{path} (mode 0600), not printed because stdout is not a terminal."
        )

    async def _link_forever(self) -> None:
        delay, attempt = 0.2, 0
        urls = self.config.coordinator
        while not self._stop.is_set():
            url = urls[attempt % len(urls)]
            attempt += 1
            started = time.monotonic()
            try:
                await self._link_once(url)
            except HandshakeRejected as exc:
                if exc.reason in FATAL_REJECTIONS:
                    raise
                log.warning("link rejected", coordinator=url, reason=exc.reason)
            except LinkError as exc:
                log.warning("link down", coordinator=url, error=str(exc))
            except Exception as exc:
                # Whatever broke this link (a frame we could not build, a bug in a handler)
                # must not end the node: it links again, and the catch-up resends what is due.
                log.error("link failed", coordinator=url, error=repr(exc), exc_info=exc)
            self.connected.clear()
            if self._stop.is_set():
                return
            if time.monotonic() - started > 10:
                delay = 0.2
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311
            delay = min(delay * 2, 10.0)

    async def _link_once(self, url: str) -> None:
        transport = await self._open(url)
        try:
            welcome = await self._handshake(transport)
            session = LinkSession(
                transport,
                name=f"coordinator {url}",
                on_request=self.operations.handle,
                on_channel=self.operations.channel,
                settings=LinkSettings.for_ping_interval_ms(welcome.ping_interval_ms),
                dialer=True,
            )
            async with session:
                log.info("linked", coordinator=url, node_id=self._node_id)
                self.session = session
                self.connected.set()
                try:
                    await first_of(
                        session.run(),
                        self._pump(session, welcome.known_seq),
                        self.sampler.forward(session.send),
                    )
                finally:
                    self.session = None
                if not self._stop.is_set():
                    raise LinkClosed(f"link to {url} closed")
        finally:
            await transport.close()

    async def _open(self, url: str) -> Transport:
        if self._connect is not None:
            return await self._connect(url)
        if url.startswith(("ws://", "wss://")):
            return await connect_websocket(url.rstrip("/") + "/api/v1/link", ssl=self._ssl(url))
        target = url.split("://", 1)[1].rstrip("/")
        roots = (
            await asyncio.to_thread(Path(self.config.ca_file).read_bytes)
            if self.config.ca_file
            else None
        )
        # Looked up here: the gRPC library is loaded only by nodes that use it.
        return await docklord.link.connect_grpc(
            target, tls=url.startswith("grpcs://"), root_certificates=roots
        )

    def _ssl(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.config.ca_file or None)

    @property
    def _node_id(self) -> str:
        return self.identity.node_id if self.identity else ""

    async def _handshake(self, transport: Transport) -> pb.Welcome:
        hello = pb.Hello(
            node_id=self._node_id,
            proof=self.identity.password if self.identity else "",
            enroll_token="" if self.identity else self.config.enroll_token,
            agent_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            hostname=socket.gethostname(),
            seq=self.watcher.seq,
        )
        if self.watcher.engine_info is not None:
            hello.engine.CopyFrom(engine_info_to_proto(self.watcher.engine_info))
        welcome = await dial(transport, hello)
        if welcome.assigned_node_id:
            self.identity = NodeIdentity(welcome.assigned_node_id, welcome.assigned_password)
            save_identity(self.config.state_dir, self.identity)
            log.info("enrolled", node_id=self.identity.node_id)
        return welcome

    async def _pump(self, session: LinkSession, known_seq: int) -> None:
        """Catch the coordinator up, then forward every new event and engine status."""
        await self.watcher.synced.wait()
        queue: asyncio.Queue[pb.Event | pb.EngineStatus] = asyncio.Queue()
        # Reading the journal and subscribing happen with no await in between, so no event
        # falls between the catch-up and the live stream, and none is sent twice.
        backlog = self.watcher.journal_after(known_seq) if known_seq else None
        first = self._catch_up(backlog)
        unsubscribe = self.watcher.subscribe(queue.put_nowait)
        try:
            await session.send(first)
            while True:
                items = [await queue.get()]
                while not queue.empty():
                    items.append(queue.get_nowait())
                for envelope in _batch(items):
                    await session.send(envelope)
        finally:
            unsubscribe()

    def _catch_up(self, backlog: list[pb.Event] | None) -> pb.Envelope:
        if backlog is not None:
            return pb.Envelope(events=pb.EventBatch(events=backlog))
        journal = self.watcher.journal.last(SNAPSHOT_JOURNAL)
        snapshot = pb.Snapshot(
            base_seq=self.watcher.base_seq,
            seq=self.watcher.seq,
            containers=[summary_to_proto(s) for s in self.watcher.containers.values()],
            journal=journal,
        )
        snapshot.engine.CopyFrom(self.watcher.engine_status())
        return pb.Envelope(snapshot=snapshot)


def _batch(items: list[pb.Event | pb.EngineStatus]) -> list[pb.Envelope]:
    out: list[pb.Envelope] = []
    events: list[pb.Event] = []
    for item in items:
        if isinstance(item, pb.Event):
            events.append(item)
            continue
        if events:
            out.append(pb.Envelope(events=pb.EventBatch(events=events)))
            events = []
        out.append(pb.Envelope(engine_status=item))
    if events:
        out.append(pb.Envelope(events=pb.EventBatch(events=events)))
    return out
