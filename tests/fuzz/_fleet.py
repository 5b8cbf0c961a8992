"""An in-process coordinator with simulated nodes, as an ASGI app, for the fuzz tests.

:class:`FuzzFleet` is the coordinator's ASGI app wrapped in a lifespan: on startup it opens a
coordinator on a temporary SQLite database, links simulated nodes to it over in-memory link
pairs and creates the users the fuzzers act as. Whatever runs the lifespan (schemathesis's ASGI
transport, Starlette's ``TestClient``) runs every request on the same event loop, which is what
the coordinator's objects need. No engine is involved, so destructive operations touch nothing.

The simulated nodes answer the streams the WebSocket handlers open (logs, stats, exec, tunnel)
so that the fuzzers reach the message handlers behind them; every other request is answered
``not_found``, as a node whose engine has no such object would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from starlette.types import Message, Receive, Scope, Send

from docklord import __version__
from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator
from docklord.errors import NotFound
from docklord.link import Channel, LinkSession, LinkSettings, memory_pair
from docklord.protocol import CONTROL, EOF, PLAIN, PROTOCOL_VERSION, READY, STDOUT, control
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import SimulatedNode, eventually
from docklord.web import create_app

__all__ = ["ROLES", "FuzzFleet", "FuzzNode"]

T = TypeVar("T")

#: The roles the fuzzers act as, and the users that hold them.
ROLES = ("admin", "viewer", "operator")
NODES = ("fuzz-node-1", "fuzz-node-2")
PASSWORD = "fuzz-password-1234"


class FuzzNode(SimulatedNode):
    """A simulated node linked over an in-memory pair, answering the streams it is asked for.

    ``logs`` sends two lines and ends; ``stats`` and ``tunnel`` stay open until the
    coordinator closes them (the tunnel echoes what it gets); ``exec`` starts, echoes stdin as
    stdout and exits on ``eof``. ``littlewings.command`` succeeds with empty output.
    """

    def __init__(self, coordinator: Coordinator, node_id: str) -> None:
        super().__init__("memory://", node_id, secrets.token_urlsafe(24), containers=3)
        self.coordinator = coordinator

    async def run(self) -> None:
        """Link over memory, send the snapshot, forward emitted events until cancelled."""
        node_end, coordinator_end = memory_pair(names=(f"memory:{self.node_id}", "coordinator"))
        serving = asyncio.create_task(self.coordinator.links.serve(coordinator_end))
        try:
            await node_end.send(pb.Envelope(hello=self._hello()))
            reply = await node_end.receive()
            assert reply.WhichOneof("body") == "welcome", reply
            async with LinkSession(
                node_end,
                name=self.node_id,
                dialer=True,
                on_request=self._request,
                on_channel=self._channel,
            ) as session:
                snapshot = pb.Snapshot(
                    base_seq=self.base_seq, seq=self.seq, containers=self.containers
                )
                snapshot.engine.CopyFrom(pb.EngineStatus(available=True))
                await session.send(pb.Envelope(snapshot=snapshot))
                self.linked.set()
                forward = asyncio.create_task(self._forward(session))
                try:
                    await session.run()
                finally:
                    forward.cancel()
                    await asyncio.gather(forward, return_exceptions=True)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    def _hello(self) -> pb.Hello:
        return pb.Hello(
            node_id=self.node_id,
            proof=self.password,
            agent_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            hostname="fuzz",
            seq=self.seq,
        )

    async def _request(self, method: str, args: Any) -> Any:
        if method == "littlewings.command":
            return {"exit_code": 0, "stdout": "", "stderr": "", "timed_out": False}
        if method == "streams.active":
            return {}
        raise NotFound(f"the simulated node {self.node_id} has nothing for {method}")

    async def _channel(self, channel: Channel) -> None:
        if channel.kind == "exec":
            await channel.send(control({"type": "started", "exec_id": "sim"}), CONTROL)
            while (item := await channel.receive()) is not None and item != (CONTROL, EOF):
                if item[0] == PLAIN:
                    await channel.send(item[1], STDOUT)
            await channel.send(control({"type": "exit", "exit_code": 0}), CONTROL)
            return
        await channel.send(READY, CONTROL)
        if channel.kind == "logs":
            await channel.send(b"line one\nline two\n", STDOUT)
            return
        while (item := await channel.receive()) is not None:
            if channel.kind == "tunnel" and item[0] == PLAIN:
                await channel.send(item[1], PLAIN)


class FuzzFleet:
    """A coordinator with simulated nodes on an event loop thread of its own, as an ASGI app.

    :meth:`start` opens it (temporary SQLite, linked nodes, fuzzing users); then any ASGI
    caller (schemathesis's ASGI transport, Starlette's ``TestClient``) can call it from its own
    event loop: each call is carried over to the fleet's loop, which is what the coordinator's
    objects need, and the caller's ``receive``/``send`` are called back on the caller's loop.
    Exceptions the app raises reach the caller, as they would reach a server. The caller's
    lifespan messages are answered without touching the fleet, whose life is
    :meth:`start`/:meth:`stop`.
    """

    def __init__(self) -> None:
        self.coordinator: Coordinator | None = None
        self.nodes: list[FuzzNode] = []
        self.tokens: dict[str, str] = {}
        self.users: dict[str, int] = {}
        self._app: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the fleet's thread and wait until its nodes are online."""
        self._thread = threading.Thread(target=self._main, name="fuzz fleet", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"the fuzz fleet did not start within {timeout} s")
        if self._failure is not None:
            raise AssertionError("the fuzz fleet failed to start") from self._failure

    def stop(self, timeout: float = 60) -> None:
        """Close the coordinator and its nodes, and end the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the fuzz fleet did not stop"
        if self._failure is not None:
            raise AssertionError("the fuzz fleet failed") from self._failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _answer_lifespan(receive, send)
            return
        assert self._loop is not None, "the fleet has not started"
        caller = asyncio.get_running_loop()

        async def on_caller(coro: Coroutine[Any, Any, T]) -> T:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, caller))

        async def bridged_receive() -> Message:
            return await on_caller(receive())

        async def bridged_send(message: Message) -> None:
            await on_caller(send(message))

        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(
                self._app(scope, bridged_receive, bridged_send), self._loop
            )
        )

    @property
    def app(self) -> Any:
        """The coordinator's ASGI app itself, for callers already on the fleet's loop."""
        assert self._app is not None, "the fleet has not started"
        return self._app

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        """Run ``factory()`` on the fleet's event loop and return its result (from a thread)."""
        assert self._loop is not None, "the fleet has not started"
        future = asyncio.run_coroutine_threadsafe(factory(), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def reset_credentials(self) -> dict[str, str]:
        """Give each fuzzing user its role back (enabled, every node) and a fresh API token.

        The fuzzers may disable, demote or delete these users and revoke their tokens; each
        test calls this first so that it starts from working credentials.
        """
        coordinator = self._running()
        store = coordinator.store
        for role in ROLES:
            name = f"fuzz-{role}"
            try:
                user = await store.get_user_by_name(name)
            except NotFound:
                user = await store.create_user(name, PASSWORD, role)
            user = await store.update_user(user.id, role=role, node_grants=None, disabled=False)
            _, token = await store.create_token(user.id, f"fuzz {role} {time.time_ns()}")
            self.users[role] = user.id
            self.tokens[role] = token
        for node in self.nodes:
            if coordinator.auth.is_revoked(node.node_id) or not node.linked.is_set():
                raise AssertionError(f"{node.node_id} was revoked or unlinked by a fuzz case")
        return dict(self.tokens)

    def _running(self) -> Coordinator:
        assert self.coordinator is not None, "the fleet has not started"
        return self.coordinator

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() or stop()
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            await self._start(stack)
            self._ready.set()
            await self._stop.wait()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="docklord-fuzz-"))
        config = CoordinatorConfig(
            data_dir=str(Path(data_dir)),
            registration="open",
            grpc_port=0,
            admin_password=secrets.token_urlsafe(16),
            request_timeout=5.0,
        )
        coordinator = await stack.enter_async_context(
            Coordinator(
                config,
                announce=lambda _: None,
                link=LinkSettings(ping_interval=5.0, dead_after=30.0, request_timeout=5.0),
            )
        )
        self.coordinator = coordinator
        self._app = create_app(coordinator)
        self._loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(_cancel_all, tasks)
        for node_id in NODES:
            node = FuzzNode(coordinator, node_id)
            self.nodes.append(node)
            tasks.append(asyncio.create_task(node.run(), name=f"fuzz node {node_id}"))

        async def linked() -> bool:
            return all(n.linked.is_set() for n in self.nodes)

        await eventually(linked, timeout=10, what="the simulated nodes to link")
        await self.reset_credentials()


async def _answer_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
