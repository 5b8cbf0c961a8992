"""Instance records left half-made by a coordinator that stopped in the middle of a creation.

Creating an instance writes its record first and completes it once the node made the container
(``store/_instances.py``). A coordinator that dies in between leaves a record that has no
container and says ``creating`` for ever, and that holds the user's one slot on the node.

No creation of a previous process can still be under way once this one runs: the node's
handler of ``instances.create`` ended with the link it came on (a node cancels the handlers of
a link that closed before it links again, and a container made but not started is removed on
the way out). So the records without a
container found at start are exactly the leftovers. Each is settled with what its node
reports (``instances.list``) as soon as the node is online:

- the node has a started container for it: the creation went through, the record is completed;
- the node has a container that never started (``created``), or none: the creation did not go
  through; the container, if any, is removed and the record deleted, which frees the slot.

Records on a node that is revoked or no longer registered are deleted at start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog

from docklord.coordinator._fleet import Fleet, Subscriber
from docklord.errors import DocklordError, NotFound
from docklord.protocol import methods
from docklord.protocol.methods import MethodArgs, NodeMethod
from docklord.store import Instance, Store

__all__ = ["InstanceReconciler"]

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=MethodArgs)
R = TypeVar("R")


class Call(Protocol):
    """``Coordinator.call``: one typed request to a node."""

    def __call__(
        self, node_id: str, method: NodeMethod[A, R], args: A | None = None
    ) -> Awaitable[R]: ...


class InstanceReconciler:
    """Settles the instance records a previous coordinator process left at ``creating``.

    Args:
        store: the coordinator's store.
        fleet: the live fleet, whose ``online`` messages start the work for a node.
        call: ``Coordinator.call`` (request to a node).
    """

    def __init__(self, store: Store, fleet: Fleet, call: Call) -> None:
        self.store = store
        self.fleet = fleet
        self.call = call
        #: node id -> ids of its records still to settle.
        self.pending: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch = _OnlineWatch(self._node_online)
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Find the leftovers and settle each as soon as its node is online."""
        registered = {n.node_id for n in await self.store.list_nodes() if n.revoked_at is None}
        for record in await self.store.list_unfinished_instances():
            if record.node_id in registered:
                self.pending.setdefault(record.node_id, set()).add(record.id)
            else:
                await self._forget(record, "its node is revoked or gone")
        if self.pending:
            log.info("instances left at creating", count=sum(map(len, self.pending.values())))
            self.fleet.subscribe(self._watch)
            for node_id in list(self.pending):
                state = self.fleet.nodes.get(node_id)
                if state is not None and state.session is not None:
                    self._node_online(node_id)

    def _node_online(self, node_id: str) -> None:
        if node_id not in self.pending:
            return
        task = asyncio.create_task(self._settle_node(node_id), name=f"reconcile {node_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("instance reconcile failed", error=f"{type(exc).__name__}: {exc}")

    async def _settle_node(self, node_id: str) -> None:
        # One pass per node at a time: a link that flaps must not settle a record twice.
        async with self._locks.setdefault(node_id, asyncio.Lock()):
            wanted = self.pending.get(node_id)
            if not wanted:
                return
            try:
                listed = await self.call(node_id, methods.INSTANCES_LIST)
            except DocklordError as exc:
                log.info("instances not reconciled yet", node_id=node_id, error=exc.message)
                return  # tried again when the node is next online
            on_node = {i.instance_id: i for i in listed.instances}
            for instance_id in sorted(wanted):
                await self._settle(node_id, instance_id, on_node.get(instance_id))
                wanted.discard(instance_id)
            self.pending.pop(node_id, None)
            if not self.pending:
                self.fleet.unsubscribe(self._watch)

    async def _settle(
        self, node_id: str, instance_id: str, found: methods.InstanceInfo | None
    ) -> None:
        try:
            record = await self.store.get_instance(instance_id)
        except NotFound:
            return  # deleted meanwhile
        if record.container_id is not None:
            return
        ssh = found.ports.get("ssh") if found is not None else None
        if found is not None and found.state != "created" and ssh:
            await self.store.complete_instance(instance_id, found.container_id, ssh)
            log.info(
                "instance reconciled: its container exists",
                instance=instance_id,
                node_id=node_id,
                container=found.container_id,
            )
            return
        if found is not None:
            with contextlib.suppress(NotFound):
                await self.call(
                    node_id, methods.INSTANCES_DELETE, methods.InstanceArgs(instance_id)
                )
        await self._forget(record, "its container was never made or never started")

    async def _forget(self, record: Instance, why: str) -> None:
        try:
            await self.store.delete_instance(record.id)
        except NotFound:
            return
        log.info(f"instance removed: {why}", instance=record.id, node_id=record.node_id)

    async def aclose(self) -> None:
        """Stop settling (what is left is settled by the next start)."""
        self.fleet.unsubscribe(self._watch)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _OnlineWatch(Subscriber):
    """A fleet subscriber that only notes nodes coming online (it queues nothing)."""

    def __init__(self, online: Callable[[str], None]) -> None:
        super().__init__()
        self._online = online

    def offer(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "node" and message.get("status") == "online":
            self._online(str(message["node_id"]))
