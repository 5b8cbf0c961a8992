from __future__ import annotations

import asyncio
import gc
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

from docklord._runtime import install_stats_signal
from docklord.config import CoordinatorConfig
from docklord.coordinator._alerts import AlertEvaluator
from docklord.coordinator._audit_feed import stream_audit
from docklord.coordinator._fleet import Fleet, NodeStatus
from docklord.coordinator._history import History
from docklord.coordinator._http import GracefulServer, uvicorn_limits
from docklord.coordinator._instances import InstanceReconciler
from docklord.coordinator._links import LinkManager
from docklord.coordinator._nodeauth import NodeAuthenticator, Registration
from docklord.coordinator._refs import check_uncached_ref
from docklord.coordinator._telemetry import Telemetry
from docklord.coordinator._tls import check_tls, grpc_credentials, uvicorn_tls
from docklord.errors import NotFound
from docklord.link import Channel, GrpcLinkServer, LinkSettings
from docklord.protocol.methods import MethodArgs, NodeMethod
from docklord.store import Store

__all__ = ["Coordinator"]

A = TypeVar("A", bound=MethodArgs)
R = TypeVar("R")

log = structlog.get_logger(__name__)


class Coordinator:
    """The public server: store, live fleet, node links, and the HTTP/gRPC listeners.

    Use as an async context manager, then :meth:`serve` the web app until cancelled (the
    app is :func:`docklord.web.create_app`'s, built by the layer above: the coordinator does not
    import web)::

        async with Coordinator(config) as coordinator:
            await coordinator.serve(create_app(coordinator))

    ``link`` sets the node links' keepalive (sent to each node in its ``Welcome``); by
    default pings every 2 s, a link silent for 5 s is dead, requests wait
    ``config.request_timeout``.
    """

    def __init__(
        self,
        config: CoordinatorConfig,
        *,
        announce: Callable[[str], None] = print,
        link: LinkSettings | None = None,
    ) -> None:
        self.config = config
        self.coordinator_id = secrets.token_hex(4)
        self.fleet = Fleet(history=History(config.stats_retention), journal=config.event_journal)
        self.store: Store = Store(config.effective_database_url)
        self.store.audit_observers.append(stream_audit(self.fleet))
        self.auth = NodeAuthenticator(self.store, Registration(config.registration))
        self.links = LinkManager(
            self.fleet,
            self.auth,
            coordinator_id=self.coordinator_id,
            settings=link or LinkSettings(request_timeout=config.request_timeout),
        )
        self.instances = InstanceReconciler(self.store, self.fleet, self.call)
        self.alerts = AlertEvaluator(self.store, self.fleet, self.open_channel)
        self.metrics = CollectorRegistry()
        self.metrics.register(_FleetCollector(self.fleet))
        self.telemetry = Telemetry(self.fleet, self.metrics)
        self._announce = announce
        self._grpc: GrpcLinkServer | None = None
        self._server: GracefulServer | None = None
        self._stop_requested = False
        self._closed = False
        #: The bound HTTP port, once :meth:`serve` has started listening.
        self.http_port: int | None = None

    async def __aenter__(self) -> Coordinator:
        if not self.config.database_url:
            await asyncio.to_thread(Path(self.config.data_dir).mkdir, parents=True, exist_ok=True)
        await self.store.__aenter__()
        try:
            await check_tls(self.config)
            await self._bootstrap_admin()
            for record in await self.store.list_nodes():
                if record.revoked_at is None:
                    self.fleet.know(record)
            await self.instances.start()
            await self.alerts.start()
            if self.config.grpc_port:
                self._grpc = GrpcLinkServer(
                    self.links.serve,
                    host=self.config.host,
                    port=self.config.grpc_port,
                    server_credentials=await grpc_credentials(self.config),
                )
                await self._grpc.__aenter__()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def grpc_port(self) -> int | None:
        """The bound gRPC link port, if the gRPC listener runs."""
        return self._grpc.port if self._grpc is not None else None

    async def _bootstrap_admin(self) -> None:
        if await self.store.count_users() > 0:
            return
        password = self.config.admin_password or secrets.token_urlsafe(16)
        await self.store.create_user("admin", password, "admin")
        if not self.config.admin_password:
            self._announce(f"Docklord admin user created (shown once):\n  password: {password}")

    async def call(
        self,
        node_id: str,
        method: NodeMethod[A, R],
        args: A | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - travels to the node with the request
    ) -> R:
        """Send a request of the node contract (``docklord.protocol.methods``) to a node.

        ``args`` travel as their JSON form (``None``: no arguments); the answer comes back
        decoded into the method's result type.

        Raises:
            NotFound: unknown node. NodeOffline: no live link (at once).
            RequestTimeout: no answer within ``timeout`` (default ``request_timeout``).
            DocklordError: whatever the node answered (``not_found``, ``conflict``...).
            LinkError: the answer does not have the method's result shape.
        """
        session = self.fleet.online_session(node_id)
        with self.telemetry.timing(method.name):
            doc = await session.request(
                method.name,
                {} if args is None else args.to_json(),
                timeout=timeout if timeout is not None else self.config.request_timeout,
            )
        return method.decode_result(doc)

    async def open_channel(
        self, node_id: str, kind: str, args: Any = None, *, window: int = 262_144
    ) -> Channel:
        """Open a flow-controlled stream to a node (logs, stats, exec, pull, tunnel)."""
        session = self.fleet.online_session(node_id)
        return await session.open_channel(kind, args, window=window)

    def container_ref(self, node_id: str, ref: str) -> str:
        """The full id of container ``ref`` on ``node_id`` from the live cache.

        An ambiguous ref raises ``AmbiguousRef`` (409) and an offline node ``NodeOffline``; a
        ref the cache does not know yet (a container created a moment ago) is passed through
        for the node's engine to resolve, so the answer is then the engine's own
        ``not_found``, unless it is shorter than an id prefix may be (``NotFound`` here).
        """
        try:
            return self.fleet.resolve(node_id, ref).id
        except NotFound:
            self.fleet.node(node_id)
            return check_uncached_ref(ref)

    async def serve(self, app: ASGIApp, *, ready: asyncio.Event | None = None) -> None:
        """Serve HTTP (REST, WebSocket, UI, WebSocket node link) until cancelled or
        :meth:`shutdown`.

        SIGUSR1 logs the process's asyncio tasks, RSS and open fds (``runtime stats``).
        """
        install_stats_signal()
        server = GracefulServer(
            uvicorn.Config(
                app,
                host=self.config.host,
                port=self.config.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                ws_max_size=16 * 1024 * 1024,
                ws_ping_interval=None,
                **uvicorn_limits(self.config),
                **uvicorn_tls(self.config),  # type: ignore[arg-type]
            ),
            close_links=self.links.aclose,
        )
        self._server = server
        if self._stop_requested:
            server.should_exit = True
        task = asyncio.create_task(server.serve())
        try:
            # uvicorn offers only a `started` flag to learn that it listens.
            while not server.started and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if server.started:
                self.http_port = server.servers[0].sockets[0].getsockname()[1]
                _freeze_startup_objects()
            if ready is not None:
                ready.set()
            await task
        finally:
            server.should_exit = True
            await self.links.aclose()
            await asyncio.gather(task, return_exceptions=True)

    def shutdown(self) -> None:
        """Ask :meth:`serve` to stop: no new connections, client WebSockets closed with
        ``1001``, in-flight requests given ``SHUTDOWN_GRACE`` seconds, then the node links
        closed cleanly. Safe to call from a signal handler, and more than once.
        """
        self._stop_requested = True
        if self._server is not None:
            self._server.should_exit = True

    async def aclose(self) -> None:
        """Close links, listeners and the store; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.instances.aclose()
        await self.alerts.aclose()
        await self.links.aclose()
        if self._grpc is not None:
            await self._grpc.__aexit__(None, None, None)
        await self.store.aclose()


class _FleetCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nodes = GaugeMetricFamily(
            "docklord_nodes", "Nodes known, by link status", labels=["status"]
        )
        counts = {s: 0 for s in NodeStatus}
        containers = GaugeMetricFamily(
            "docklord_containers", "Containers on online nodes, by state", labels=["state"]
        )
        states: dict[str, int] = {}
        for node in self.fleet.nodes.values():
            counts[node.status] += 1
            if node.status is NodeStatus.ONLINE:
                for c in node.containers.values():
                    states[c.state] = states.get(c.state, 0) + 1
        for status, n in counts.items():
            nodes.add_metric([status.value], n)
        for state, n in sorted(states.items()):
            containers.add_metric([state], n)
        yield nodes
        yield containers


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, routes, models) out of the cyclic GC.

    Those objects live as long as the process; scanning them again in every full collection
    only lengthens the pauses that a large fleet makes long anyway (measured: a third of the
    heap of a coordinator with 1,000 nodes). Garbage is collected first, so nothing leaks.
    """
    gc.collect()
    gc.freeze()
