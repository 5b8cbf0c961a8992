"""A whole fleet in one event loop: the coordinator app over ASGI, simulated nodes in memory.

For tests of the coordinator and of the link that need neither Docker nor a process of their
own: a request goes through the same routes, policies and fleet cache as under uvicorn, a node
links through the same handshake, in milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

import httpx
from starlette.types import ASGIApp

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator, NodeStatus
from docklord.link import LinkSettings, Transport, memory_pair
from docklord.testing._asgi import AsgiWebSocket
from docklord.testing._eventually import eventually
from docklord.testing._simnode import SimulatedNode
from docklord.web import create_app

__all__ = ["InProcessFleet"]

#: The admin's password in every in-process fleet (its store lives as long as the fleet).
ADMIN_PASSWORD = "in-process-admin-password"  # noqa: S105 - a throwaway test store
#: The secret of the simulated nodes :class:`InProcessFleet` starts.
NODE_SECRET = "in-process-node-secret-".ljust(43, "s")
#: Fast keepalive: a link cut without a close frame is noticed within 2.5 s. Not faster: the
#: node side declares the link dead after 2.5 pings (1.25 s), and an event loop busy with a
#: test's other work on a loaded machine (two xdist workers on two cores) can stall longer
#: than half a second, which dropped links in the middle of tests.
FAST_LINKS = LinkSettings(ping_interval=0.5, dead_after=2.5, request_timeout=10.0)


class InProcessFleet:
    """A coordinator on a temporary SQLite file, its app, and simulated nodes linked in memory.

    ::

        async with InProcessFleet(nodes=3, containers=10) as fleet:
            response = await fleet.http.get("/api/v1/containers")  # as the admin
            fleet.nodes[0].emit()                                # a container event
            async with fleet.websocket("/api/v1/events/ws") as ws: ...

    The coordinator is built as ``docklord coordinator`` builds it (:class:`Coordinator`, then
    :func:`docklord.web.create_app`), without listeners: HTTP goes through
    ``httpx.ASGITransport``, WebSockets through :class:`AsgiWebSocket`, node links through
    :func:`docklord.link.memory_pair` into ``coordinator.links.serve``. Entering waits until
    every node is online; leaving stops the nodes, closes the coordinator and removes its files.

    Args:
        nodes: how many :class:`SimulatedNode` to start (``node-1``, ``node-2``...).
        containers: the running containers each of them reports.
        registration: ``open`` (nodes register on first contact) or ``enroll``.
        link: the node links' keepalive; by default fast, so that a cut link is seen in 2.5 s.
    """

    def __init__(
        self,
        *,
        nodes: int = 1,
        containers: int = 10,
        registration: str = "open",
        link: LinkSettings = FAST_LINKS,
    ) -> None:
        self._node_count = nodes
        self._containers = containers
        self._registration = registration
        self._link = link
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._coordinator: Coordinator | None = None
        self._http: httpx.AsyncClient | None = None
        self.app: ASGIApp | None = None
        #: The admin's API token (``Authorization: Bearer``), as :attr:`http` sends it.
        self.admin_token = ""
        self.nodes: list[SimulatedNode] = []
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._ends: dict[str, Transport] = {}
        self._peers = itertools.count(1)

    @property
    def coordinator(self) -> Coordinator:
        """The coordinator (store, fleet cache, link manager, node authenticator)."""
        assert self._coordinator is not None, "use the fleet inside `async with`"
        return self._coordinator

    @property
    def http(self) -> httpx.AsyncClient:
        """An HTTP client of the app, signed in as the admin."""
        assert self._http is not None, "use the fleet inside `async with`"
        return self._http

    @property
    def data_dir(self) -> Path:
        """The coordinator's data directory (its SQLite file)."""
        assert self._dir is not None, "use the fleet inside `async with`"
        return Path(self._dir.name)

    async def __aenter__(self) -> InProcessFleet:
        self._dir = tempfile.TemporaryDirectory(prefix="docklord-inprocess-")
        try:
            await self._open()
            for i in range(1, self._node_count + 1):
                await self.add_node(f"node-{i}", containers=self._containers)
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

    async def _open(self) -> None:
        config = CoordinatorConfig(
            data_dir=str(self.data_dir),
            grpc_port=0,
            registration=self._registration,
            admin_password=ADMIN_PASSWORD,
        )
        self._coordinator = Coordinator(config, announce=lambda _: None, link=self._link)
        await self._coordinator.__aenter__()
        self.app = create_app(self._coordinator)
        transport = httpx.ASGITransport(app=self.app)
        self._http = httpx.AsyncClient(transport=transport, base_url="http://coordinator")
        # A token straight from the store: a login would hash the password once more (argon2,
        # a quarter of a second), for every fleet.
        admin = await self._coordinator.store.get_user_by_name("admin")
        _, self.admin_token = await self._coordinator.store.create_token(admin.id, "in-process")
        self._http.headers["Authorization"] = f"Bearer {self.admin_token}"

    async def connect(self) -> Transport:
        """A new link to the coordinator: returns the node's end, the coordinator serves the
        other (as ``SimulatedNode(connect=...)`` and ``NodeAgent(connect=...)`` want it)."""
        name = f"memory#{next(self._peers)}"  # no ":port": each link its own source
        node_end, coordinator_end = memory_pair(names=(name, "coordinator"))
        self._ends[name] = node_end
        task = asyncio.create_task(self.coordinator.links.serve(coordinator_end))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        return node_end

    def connector(self) -> Callable[[str], Awaitable[Transport]]:
        """:meth:`connect` in the shape ``NodeAgent(connect=...)`` takes (it ignores the URL)."""

        async def connect(url: str) -> Transport:
            return await self.connect()

        return connect

    async def add_node(
        self,
        node_id: str,
        *,
        containers: int = 10,
        password: str = NODE_SECRET,
        online: bool = True,
    ) -> SimulatedNode:
        """Start a :class:`SimulatedNode`; with ``online``, wait until the fleet has it online."""
        node = SimulatedNode(
            "memory://", node_id, password, containers=containers, connect=self.connect
        )
        self.nodes.append(node)
        self._runs[node_id] = asyncio.create_task(node.run(), name=f"simulated {node_id}")
        if online:
            await self.wait_online(node_id)
        return node

    def run_of(self, node_id: str) -> asyncio.Task[None]:
        """The task running the simulated node ``node_id`` (done once its link ended)."""
        return self._runs[node_id]

    async def wait_online(self, node_id: str, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the coordinator has ``node_id`` online (caught up)."""

        async def online() -> bool:
            run = self._runs.get(node_id)
            if run is not None and run.done():
                run.result()  # the node failed: say why
                raise AssertionError(f"simulated node {node_id} stopped before it was online")
            state = self.coordinator.fleet.nodes.get(node_id)
            return state is not None and state.status is NodeStatus.ONLINE

        await eventually(online, timeout=timeout, what=f"node {node_id} online")

    async def cut(self, node_id: str) -> None:
        """Break ``node_id``'s live link as a network would: no close frame, both ends fail."""
        session = self.coordinator.fleet.online_session(node_id)
        await self._ends[session.peer].close()

    def websocket(self, path: str, **query: str) -> AsgiWebSocket:
        """A WebSocket to the app; signed in as the admin unless ``token`` is given."""
        query.setdefault("token", self.admin_token)
        assert self.app is not None, "use the fleet inside `async with`"
        return AsgiWebSocket(self.app, path, **query)

    async def stop_node(self, node_id: str) -> None:
        """Stop the simulated node ``node_id`` (its link drops) and wait until it has."""
        run = self._runs.pop(node_id)
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the nodes, close the client and the coordinator, remove the files; idempotent."""
        for node_id in list(self._runs):
            await self.stop_node(node_id)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._coordinator is not None:
            await self._coordinator.aclose()
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
