from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from docklord.config import CoordinatorConfig
from docklord.coordinator._alerts import AlertEvaluator
from docklord.coordinator._audit_feed import stream_audit
from docklord.coordinator._fleet import Fleet, NodeState, NodeStatus
from docklord.coordinator._history import History
from docklord.coordinator._instance_placement import InstancePlacement
from docklord.coordinator._instance_reconcile import InstanceReconciler
from docklord.coordinator._links import LinkManager
from docklord.coordinator._nodeauth import NodeAuthenticator, Registration
from docklord.coordinator._refs import check_uncached_ref
from docklord.coordinator._telemetry import Telemetry
from docklord.coordinator._tls import check_tls, grpc_credentials
from docklord.errors import NotFound
from docklord.link import Channel, GrpcLinkServer, LinkSettings
from docklord.protocol.methods import ChannelKind, MethodArgs, NodeMethod
from docklord.store import Store

__all__ = ["Coordinator"]

A = TypeVar("A", bound=MethodArgs)
R = TypeVar("R")

log = structlog.get_logger(__name__)


class Coordinator:
    """The public server's core: store, live fleet, node links and the gRPC link listener.

    Use as an async context manager; the layer above serves HTTP for it (the coordinator does
    not import web or an HTTP server)::

        async with Coordinator(config) as coordinator:
            await HttpServer(coordinator).serve()  # docklord.server

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
        #: Instance operations (create with placement, start, stop, delete).
        self.instances = InstancePlacement(self.store, self.fleet, self.call)
        self.reconciler = InstanceReconciler(self.store, self.fleet, self.call)
        self.alerts = AlertEvaluator(self.store, self.fleet, self.open_channel)
        self.metrics = CollectorRegistry()
        self.metrics.register(_FleetCollector(self.fleet))
        self.telemetry = Telemetry(self.fleet, self.metrics)
        self._announce = announce
        self._grpc: GrpcLinkServer | None = None
        self._closed = False

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
            await self.reconciler.start()
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
        self,
        node_id: str,
        kind: ChannelKind[A],
        args: A | None = None,
        *,
        window: int = 262_144,
    ) -> Channel:
        """Open a flow-controlled stream of a channel kind (``docklord.protocol.methods``:
        ``LOGS``, ``STATS``, ``EXEC_SESSION``, ``TUNNEL``, ``IMAGES_PULL``) to a node."""
        session = self.fleet.online_session(node_id)
        doc = {} if args is None else args.to_json()
        return await session.open_channel(kind.name, doc, window=window)

    async def register_node(
        self, node_id: str, *, name: str | None = None, labels: dict[str, str] | None = None
    ) -> str:
        """Pre-register a node with a fresh secret and list it (offline until it links);
        returns the secret, which is shown this once."""
        record, password = await self.auth.register(node_id, name=name, labels=labels)
        self.fleet.know(record)
        return password

    async def update_node(self, node_id: str, **changes: Any) -> NodeState:
        """Rename or relabel a registered node (linked or not); its state as listed."""
        record = await self.store.update_node(node_id, **changes)
        return self.fleet.know(record)

    async def revoke_node(self, node_id: str) -> str:
        """Revoke a node: refused from now on, its live link closed, gone from the fleet.

        Returns what was revoked: ``revoked`` (a registered node) or ``withdrawn`` (an
        enrollment token not used yet), as ``NodeAuthenticator.revoke`` says.
        """
        outcome = await self.auth.revoke(node_id)
        await self.links.disconnect(node_id)
        self.fleet.forget(node_id)
        return outcome

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

    async def aclose(self) -> None:
        """Close links, listeners and the store; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.reconciler.aclose()
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
