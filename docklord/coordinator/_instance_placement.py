"""Placing, starting, stopping and deleting instances (a user's own SSH box, DESIGN §5).

Creating one reserves its record first (one instance per user per node, in the store), picks an
online node the owner may use, fewest instances first, and asks it for ``instances.create``:
the node allocates the ports, creates the container, installs the key and starts it. A node
that is full or offline is skipped for the next one. When the node's answer is lost, the
container it may have made is removed, and the reservation is undone whatever went wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from docklord.coordinator._fleet import Fleet
from docklord.errors import Conflict, DocklordError, LinkError, NodeOffline, NotFound
from docklord.protocol import methods
from docklord.protocol.methods import MethodArgs, NodeMethod
from docklord.store import Instance, Store

__all__ = ["CREATE_TIMEOUT", "InstancePlacement", "Owner"]

A = TypeVar("A", bound=MethodArgs)
R = TypeVar("R")

#: Seconds a node may take to create or delete an instance (allocation, create, start).
CREATE_TIMEOUT = 60.0


class Owner(Protocol):
    """Whom an instance is for: a user, and the nodes they may use (a web ``Principal``)."""

    @property
    def user_id(self) -> int: ...

    @property
    def username(self) -> str: ...

    def may_see(self, node_id: str) -> bool: ...


class Call(Protocol):
    """``Coordinator.call``: one typed request to a node."""

    def __call__(
        self,
        node_id: str,
        method: NodeMethod[A, R],
        args: A | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - travels to the node with the request
    ) -> Awaitable[R]: ...


class InstancePlacement:
    """The instance operations of the coordinator, over its store, fleet and node calls."""

    def __init__(self, store: Store, fleet: Fleet, call: Call) -> None:
        self.store = store
        self.fleet = fleet
        self.call = call

    async def create(self, owner: Owner, key: str, *, node: str | None = None) -> Instance:
        """A new started instance for ``owner`` with ``key``, on ``node`` or the emptiest
        node available to them.

        Raises:
            NotFound: ``node`` is unknown or not theirs. NodeOffline: no node is online.
            Conflict: they have one on ``node`` or on every node, or no node has room.
        """
        refusals: list[str] = []
        for node_id in await self._candidates(owner, node):
            try:
                return await self._create_on(owner, node_id, key)
            except (Conflict, NodeOffline) as exc:
                refusals.append(f"{node_id}: {exc.message}")
        if not refusals:
            raise NodeOffline("no node is online to hold an instance")
        raise Conflict("no node has room for another instance of yours: " + "; ".join(refusals))

    async def start(self, instance: Instance) -> str:
        """Start a stopped instance; its state as the node answers."""
        result = await self.call(
            instance.node_id, methods.INSTANCES_START, methods.InstanceArgs(_made(instance).id)
        )
        return result.state

    async def stop(self, instance: Instance) -> str:
        """Stop an instance (data and ports are kept); its state as the node answers."""
        result = await self.call(
            instance.node_id, methods.INSTANCES_STOP, methods.InstanceArgs(_made(instance).id)
        )
        return result.state

    async def delete(self, instance: Instance) -> None:
        """Remove the instance's container and forget it (its ports are free again)."""
        args = methods.InstanceArgs(_made(instance).id)
        # A container removed on the node already: the instance is forgotten all the same.
        with contextlib.suppress(NotFound):
            await self.call(
                instance.node_id, methods.INSTANCES_DELETE, args, timeout=CREATE_TIMEOUT
            )
        await self.store.delete_instance(instance.id)

    async def _candidates(self, owner: Owner, only: str | None) -> list[str]:
        """Online nodes the owner may use and has no instance on yet, fewest instances first."""
        mine = {i.node_id for i in await self.store.list_instances(user_id=owner.user_id)}
        if only is not None:
            if not owner.may_see(only) or only not in self.fleet.nodes:
                raise NotFound(f"no such node: {only}")
            if only in mine:
                raise Conflict(f"you already have an instance on node {only}")
            self.fleet.online_session(only)  # NodeOffline (503) at once
            return [only]
        counts = await self.store.count_instances_by_node()
        online = [
            node_id
            for node_id, state in self.fleet.nodes.items()
            if state.session is not None and owner.may_see(node_id) and node_id not in mine
        ]
        if not online and mine:
            raise Conflict("you already have an instance on every node available to you")
        return sorted(online, key=lambda n: (counts.get(n, 0), n))

    async def _create_on(self, owner: Owner, node_id: str, key: str) -> Instance:
        reserved = await self.store.reserve_instance(owner.user_id, node_id, key)
        args = methods.InstanceCreateArgs(reserved.id, owner.username, key)
        try:
            made = await self.call(node_id, methods.INSTANCES_CREATE, args, timeout=CREATE_TIMEOUT)
            await self.store.complete_instance(reserved.id, made.container_id, made.ports["ssh"])
        except BaseException as exc:
            if isinstance(exc, LinkError):
                # The node may have made the container before the answer was lost: remove it.
                with contextlib.suppress(DocklordError):
                    gone = methods.InstanceArgs(reserved.id)
                    await self.call(node_id, methods.INSTANCES_DELETE, gone)
            await self.store.delete_instance(reserved.id)
            raise
        return await self.store.get_instance(reserved.id)


def _made(instance: Instance) -> Instance:
    """``instance``, once its creation completed."""
    if instance.container_id is None:
        raise Conflict(f"instance {instance.id} is still being created")
    return instance
