"""Instances: a user's own SSH box on a node (DESIGN §5), in the DockHost answer format.

Every user (any role) manages their own instances; admins see and manage everyone's. Another
user's instance is ``404``, as if it did not exist. Answers of the mutating routes use the
documented format ``{"success": true, "message": "...", "data": {...}}``; errors use the API's
one error shape.

Placement and the calls to the node are the coordinator's (``Coordinator.instances``,
``docklord.coordinator._instance_placement``); the routes parse, authorize, audit and answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, field_validator

from docklord.coordinator import Coordinator, iso
from docklord.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
)
from docklord.store import Instance
from docklord.web._audit import audited
from docklord.web._auth import Principal, Role, require
from docklord.web._containers import NAME_PATTERN, StrictModel
from docklord.web._deps import coordinator_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/instances", tags=["instances"])

User = Annotated[Principal, Depends(require(Role.VIEWER, user=True))]
InstanceId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]

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
        instance = await coordinator.instances.create(
            principal, body.ssh_public_key, node=body.node
        )
        entry.target = instance.id
    data = instance_json(instance, coordinator)
    return _answer(f"instance {instance.id} created on node {instance.node_id}", data)


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


async def _act(
    request: Request, principal: Principal, instance_id: str, action: str, done: str
) -> dict[str, Any]:
    coordinator = coordinator_of(request)
    instance = await _own(request, principal, instance_id)
    _created(instance)
    async with audited(
        request, principal, f"instance.{action}", node=instance.node_id, target=instance.id
    ):
        act = coordinator.instances.start if action == "start" else coordinator.instances.stop
        state = await act(instance)
    data = {**instance_json(instance, coordinator), "state": state}
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
        await coordinator.instances.delete(instance)
    data = {**instance_json(instance, coordinator), "state": "deleted"}
    return _answer(f"instance {instance.id} deleted", data)


def _created(instance: Instance) -> None:
    if instance.container_id is None:
        raise Conflict(f"instance {instance.id} is still being created") from None
