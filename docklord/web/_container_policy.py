"""Who may reach which container, and which create settings need the admin role.

Two rules live here, for every container route (REST and WebSocket) alike:

- **Instances are not containers to the containers API.** A container the node made for an
  instance (it carries the ``docklord.instance`` label, or its name starts with
  ``docklord-instance-``) is reachable only through ``/api/v1/instances``, by its owner and by
  admins. To anyone but an admin the container routes answer ``404`` for it and the lists leave
  it out, as if it did not exist. Admins see and reach it everywhere (they are root on every
  node through the tunnel anyway). Its owner hears of its state changes on the events socket
  as ``instance`` messages, which no container view takes for a container.
- **Settings that amount to root on the host are for admins** (docs/SECURITY.md lists each
  field): bind mounts of host paths and the host's network namespace. An operator asking for
  one gets ``403`` naming the field; the refusal is audited like every create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docklord.coordinator import Coordinator, check_uncached_ref
from docklord.errors import NotFound, PermissionDenied
from docklord.model import INSTANCE_LABEL, NAME_PREFIX, OWNER_LABEL
from docklord.protocol import methods
from docklord.web._auth import Principal, Role

__all__ = [
    "check_create",
    "is_instance",
    "may_reach",
    "owner_message",
    "reserved_label",
    "reserved_name",
    "resolve_visible",
    "visible_message",
    "visible_rows",
]

#: The network mode that shares the host's network namespace (loopback services included).
HOST_NETWORK = "host"


def is_instance(labels: Mapping[str, str], name: str) -> bool:
    """Whether a container is an instance's: by the node's label, or by the reserved name."""
    return INSTANCE_LABEL in labels or name.lstrip("/").startswith(NAME_PREFIX)


def reserved_name(name: str) -> bool:
    """Whether a container name is one the node gives instances."""
    return name.lstrip("/").startswith(NAME_PREFIX)


def reserved_label(key: str) -> bool:
    """Whether a label key belongs to the instance machinery (nobody sets it by hand)."""
    return key == INSTANCE_LABEL or key.startswith(INSTANCE_LABEL + ".")


def may_reach(principal: Principal, labels: Mapping[str, str], name: str) -> bool:
    """Whether the container routes show this container to ``principal``."""
    return principal.role >= Role.ADMIN or not is_instance(labels, name)


def visible_rows(principal: Principal, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The container JSON rows (``container_json``) that ``principal`` may see."""
    return [r for r in rows if may_reach(principal, r.get("labels") or {}, r.get("name", ""))]


def visible_message(principal: Principal, message: dict[str, Any]) -> dict[str, Any] | None:
    """A fleet stream message as ``principal`` may see it (``None``: not at all).

    Snapshots and resyncs lose the instance containers; an event about one becomes an
    ``instance`` message for its owner (:func:`owner_message`) and is dropped for anyone else
    (a removed container has no summary: its attributes carry its labels and name). Alert
    and audit messages go to admins only, and so do ``identity`` messages, but for a user's own
    ``tokens`` changes, which that user hears of too.
    """
    if message.get("kind") == "identity":
        return _identity_message(principal, message)
    if principal.role >= Role.ADMIN:
        return message
    if message.get("kind") in ("alert", "alert_delivery", "audit"):
        return None  # alerts, like their rules, and the audit log are for admins
    if message.get("kind") in ("snapshot", "resync"):
        return {**message, "containers": visible_rows(principal, message["containers"])}
    if message.get("kind") == "event" and message.get("type") == "container":
        about = message.get("container") or {}
        labels = about.get("labels") or message.get("attributes") or {}
        name = about.get("name") or (message.get("attributes") or {}).get("name", "")
        if may_reach(principal, labels, name):
            return message
        return owner_message(principal, message, labels)
    return message


def _identity_message(principal: Principal, message: dict[str, Any]) -> dict[str, Any] | None:
    """An ``identity`` message, to admins and to the owner of the tokens it is about; never to
    the stream the change itself closes (its token revoked, its user changed or deleted): that
    stream's next frame is its close (``4401``)."""
    what, action = message.get("what"), message.get("action")
    mine = principal.is_user and message.get("user_id") == principal.user_id
    if what == "users" and mine and action in ("update", "delete"):
        return None
    if what == "tokens" and action == "revoke" and message.get("token_id") == principal.token_id:
        return None
    if principal.role >= Role.ADMIN:
        return message
    return message if mine and what == "tokens" else None


def owner_message(
    principal: Principal, event: dict[str, Any], labels: Mapping[str, str]
) -> dict[str, Any] | None:
    """An event about an instance's container, as the instance's owner hears of it.

    The owner's page shows the instance's state live; a message of its own kind keeps the
    container out of every container view (the container routes would refuse it). The owner is
    the user name the node wrote in the label: users are not renamed, and a user who still has
    instances cannot be deleted, so the name is not reused while the container exists. Nobody
    but an admin can set the label (``reserved_label``).
    """
    instance_id = labels.get(INSTANCE_LABEL)
    if not principal.is_user or instance_id is None:
        return None
    if labels.get(OWNER_LABEL) != principal.username:
        return None
    container = event.get("container") or {}
    return {
        "kind": "instance",
        "node_id": event["node_id"],
        "instance_id": instance_id,
        "container_id": event["actor_id"],
        "action": event["action"],
        "state": container.get("state"),
        "removed": bool(event.get("removed")),
        "time": event.get("time"),
    }


async def resolve_visible(
    coordinator: Coordinator, principal: Principal, node: str, ref: str
) -> str:
    """The full id of the container ``ref`` on ``node`` that ``principal`` may reach.

    An admin gets :meth:`Coordinator.container_ref` as is. Anyone else resolves among the
    containers they may see; a ref the cache does not know (a container made a moment ago) is
    looked up on the node first, so that an instance is never reached by a name or a prefix
    the cache has not seen yet. An instance answers ``NotFound``, like a missing container.

    Raises:
        NotFound, NodeOffline, AmbiguousRef: as :meth:`Coordinator.container_ref`.
    """
    if principal.role >= Role.ADMIN:
        return coordinator.container_ref(node, ref)
    try:
        return coordinator.fleet.resolve(
            node, ref, visible=lambda s: may_reach(principal, s.labels, s.name)
        ).id
    except NotFound:
        coordinator.fleet.node(node)  # an unknown node stays "no such node"
    ref = check_uncached_ref(ref)
    doc = await coordinator.call(node, methods.CONTAINERS_INSPECT, methods.InspectArgs(ref))
    summary = doc["summary"]
    if not may_reach(principal, summary.get("labels") or {}, summary.get("name", "")):
        raise NotFound(f"no such container: {ref}")
    found: str = summary["id"]
    return found


async def check_create(
    coordinator: Coordinator, principal: Principal, node: str, body: Any
) -> None:
    """Refuse (``403``, naming the field) the create settings that need the admin role.

    ``body`` is a :class:`ContainerCreate`: ``mounts`` and ``network`` are read.
    """
    if principal.role >= Role.ADMIN:
        return
    if any(m.type == "bind" for m in body.mounts):
        # A host path mounted into a container is root on that host.
        raise _needs_admin(
            "mounts", "bind mounts of host paths need the admin role; use a named volume"
        )
    if body.network is not None and await _is_host_network(coordinator, node, body.network):
        # The host's namespace reaches every loopback-only service: the coordinator, the
        # database, a `docklord tunnel` (the Docker API, which is root on the host).
        raise _needs_admin("network", f"network {body.network!r} (the host's) needs the admin role")


async def _is_host_network(coordinator: Coordinator, node: str, network: str) -> bool:
    if network == HOST_NETWORK:
        return True
    # The engine also resolves a network by id or id prefix: look at what it would pick.
    listed = (await coordinator.call(node, methods.NETWORKS_LIST))["networks"]
    by_name = [n for n in listed if n.get("name") == network]
    matches = by_name or [n for n in listed if str(n.get("id", "")).startswith(network)]
    return any(n.get("driver") == HOST_NETWORK or n.get("name") == HOST_NETWORK for n in matches)


def _needs_admin(field: str, message: str) -> PermissionDenied:
    return PermissionDenied(
        f"{field}: {message} (it amounts to root on the node's host)", details={"field": field}
    )
