"""Instances: a user's own SSH box on a node (DESIGN §5), in the DockHost answer format.

Every user (any role) manages their own instances; admins see and manage everyone's. Another
user's instance is ``404``, as if it did not exist. Answers of the mutating routes use the
documented format ``{"success": true, "message": "...", "data": {...}}``; errors use the API's
one error shape.

Creating one: the coordinator reserves the record (one instance per user per node), picks an
online node the user may use, fewest instances first, and asks it for ``instances.create``: the
node allocates the ports, creates the container, installs the key and starts it. A node that is
full or offline is skipped for the next one.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, field_validator

from docklord.coordinator import Coordinator, iso
from docklord.errors import (
    Conflict,
    DocklordError,
    LinkError,
    NodeOffline,
    NotFound,
    PermissionDenied,
)
from docklord.protocol import methods
from docklord.store import Instance
from docklord.web._audit import audited
from docklord.web._auth import Principal, Role, require
from docklord.web._containers import NAME_PATTERN, StrictModel
from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/instances", tags=["instances"])

User = Annotated[Principal, Depends(require(Role.VIEWER, user=True))]
InstanceId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]

#: Seconds a node may take to create or delete an instance (allocation, create, start).
CREATE_TIMEOUT = 60.0
_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


class InstanceIn(StrictModel):
    """The body of ``POST /api/v1/instances``."""

    ssh_public_key: str = Field(
        min_length=1, max_length=16_384, description="one OpenSSH public key line"
    )
    node: str | None = Field(
        default=None, max_length=128, pattern=NAME_PATTERN, description="only this node"
    )

    @field_validator("ssh_public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        line = value.strip()
        if "\n" in line or "\r" in line or not line.startswith(_KEY_TYPES):
            raise ValueError(f"one OpenSSH public key line ({', '.join(_KEY_TYPES)})")
        try:
            load_ssh_public_key(line.encode())
        except (ValueError, TypeError):
            raise ValueError("not a valid OpenSSH public key") from None
        return line


def instance_json(instance: Instance, coordinator: Coordinator) -> dict[str, Any]:
    """An instance as the API shows it, with its container's live state from the fleet.

    ``containerId`` keeps the spelling of the documented answer format.
    """
    return {
        "id": instance.id,
        "owner": instance.owner,
        "node_id": instance.node_id,
        "containerId": instance.container_id,
        "ports": instance.ports,
        "state": _state(instance, coordinator),
        "created_at": iso(instance.created_at.timestamp()),
    }


def _state(instance: Instance, coordinator: Coordinator) -> str:
    if instance.container_id is None:
        return "creating"
    node = coordinator.fleet.nodes.get(instance.node_id)
    if node is None or node.session is None:
        return "unknown"  # the node is offline: its container's state is not known
    container = node.containers.get(instance.container_id)
    return container.state if container is not None else "missing"


def _answer(message: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data}


async def _own(request: Request, principal: Principal, instance_id: str) -> Instance:
    """The instance, if the caller owns it or is an admin; else ``NotFound``."""
    instance = await coordinator_of(request).store.get_instance(instance_id)
    if instance.user_id != principal.user_id and principal.role < Role.ADMIN:
        raise NotFound(f"no instance {instance_id}")
    return instance


# ---- routes -------------------------------------------------------------------------------


@router.get("")
async def list_instances(
    principal: User,
    request: Request,
    all_users: Annotated[
        bool, Query(alias="all", description="every user's instances (admins only)")
    ] = False,
) -> dict[str, Any]:
    """The caller's instances; with ``all=true`` an admin gets everyone's."""
    coordinator = coordinator_of(request)
    if all_users and principal.role < Role.ADMIN:
        raise PermissionDenied("all=true needs the admin role")
    mine = None if all_users else principal.user_id
    found = await coordinator.store.list_instances(user_id=mine)
    return {"instances": [instance_json(i, coordinator) for i in found]}


@router.get("/{instance_id}")
async def get_instance(
    instance_id: InstanceId, principal: User, request: Request
) -> dict[str, Any]:
    """One instance."""
    return instance_json(await _own(request, principal, instance_id), coordinator_of(request))


@router.post("", status_code=201)
async def create_instance(body: InstanceIn, principal: User, request: Request) -> dict[str, Any]:
    """Create an instance on a node with room for it; answers once sshd is starting."""
    coordinator = coordinator_of(request)
    params = {"node": body.node, "key_type": body.ssh_public_key.split()[0]}
    async with audited(request, principal, "instance.create", params=params) as entry:
        instance = await _create_somewhere(coordinator, principal, body)
        entry.target = instance.id
    data = instance_json(instance, coordinator)
    return _answer(f"instance {instance.id} created on node {instance.node_id}", data)


async def _create_somewhere(
    coordinator: Coordinator, principal: Principal, body: InstanceIn
) -> Instance:
    candidates = await _candidates(coordinator, principal, body.node)
    refusals: list[str] = []
    for node_id in candidates:
        try:
            return await _create_on(coordinator, principal, node_id, body.ssh_public_key)
        except (Conflict, NodeOffline) as exc:
            refusals.append(f"{node_id}: {exc.message}")
    if not refusals:
        raise NodeOffline("no node is online to hold an instance")
    raise Conflict("no node has room for another instance of yours: " + "; ".join(refusals))


async def _candidates(
    coordinator: Coordinator, principal: Principal, only: str | None
) -> list[str]:
    """Online nodes the caller may use and has no instance on yet, fewest instances first."""
    mine = {i.node_id for i in await coordinator.store.list_instances(user_id=principal.user_id)}
    if only is not None:
        if not principal.may_see(only) or only not in coordinator.fleet.nodes:
            raise NotFound(f"no such node: {only}")
        if only in mine:
            raise Conflict(f"you already have an instance on node {only}")
        coordinator.fleet.online_session(only)  # NodeOffline (503) at once
        return [only]
    counts = await coordinator.store.count_instances_by_node()
    online = [
        node_id
        for node_id, state in coordinator.fleet.nodes.items()
        if state.session is not None and principal.may_see(node_id) and node_id not in mine
    ]
    if not online and mine:
        raise Conflict("you already have an instance on every node available to you")
    return sorted(online, key=lambda n: (counts.get(n, 0), n))


async def _create_on(
    coordinator: Coordinator, principal: Principal, node_id: str, key: str
) -> Instance:
    store = coordinator.store
    reserved = await store.reserve_instance(principal.user_id, node_id, key)
    args = methods.InstanceCreateArgs(reserved.id, principal.username, key)
    try:
        made = await coordinator.call(
            node_id, methods.INSTANCES_CREATE, args, timeout=CREATE_TIMEOUT
        )
        await store.complete_instance(reserved.id, made.container_id, made.ports["ssh"])
    except BaseException as exc:
        if isinstance(exc, LinkError):
            # The node may have made the container before the answer was lost: remove it.
            with contextlib.suppress(DocklordError):
                gone = methods.InstanceArgs(reserved.id)
                await coordinator.call(node_id, methods.INSTANCES_DELETE, gone)
        await store.delete_instance(reserved.id)
        raise
    return await store.get_instance(reserved.id)


@router.post("/{instance_id}/start")
async def start_instance(
    instance_id: InstanceId, principal: User, request: Request
) -> dict[str, Any]:
    """Start a stopped instance (its data and ports are as they were)."""
    return await _act(request, principal, instance_id, "start", "started")


@router.post("/{instance_id}/stop")
async def stop_instance(
    instance_id: InstanceId, principal: User, request: Request
) -> dict[str, Any]:
    """Stop an instance; its data and ports are kept."""
    return await _act(request, principal, instance_id, "stop", "stopped")


_ACTIONS = {"start": methods.INSTANCES_START, "stop": methods.INSTANCES_STOP}


async def _act(
    request: Request, principal: Principal, instance_id: str, action: str, done: str
) -> dict[str, Any]:
    coordinator = coordinator_of(request)
    instance = await _own(request, principal, instance_id)
    _created(instance)
    async with audited(
        request, principal, f"instance.{action}", node=instance.node_id, target=instance.id
    ):
        method = _ACTIONS[action]
        result = await coordinator.call(instance.node_id, method, methods.InstanceArgs(instance.id))
    data = {**instance_json(instance, coordinator), "state": result.state}
    return _answer(f"instance {instance.id} {done}", data)


@router.delete("/{instance_id}")
async def delete_instance(
    instance_id: InstanceId, principal: User, request: Request
) -> dict[str, Any]:
    """Delete an instance: its container goes and its ports are free again."""
    coordinator = coordinator_of(request)
    instance = await _own(request, principal, instance_id)
    _created(instance)
    async with audited(
        request, principal, "instance.delete", node=instance.node_id, target=instance.id
    ):
        args = methods.InstanceArgs(instance.id)
        # A container removed on the node already: the instance is forgotten all the same.
        with contextlib.suppress(NotFound):
            await coordinator.call(
                instance.node_id, methods.INSTANCES_DELETE, args, timeout=CREATE_TIMEOUT
            )
        await coordinator.store.delete_instance(instance.id)
    data = {**instance_json(instance, coordinator), "state": "deleted"}
    return _answer(f"instance {instance.id} deleted", data)


def _created(instance: Instance) -> None:
    if instance.container_id is None:
        raise Conflict(f"instance {instance.id} is still being created") from None
