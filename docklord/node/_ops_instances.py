"""Instances (per-user SSH boxes): the node's ``instances.*`` request methods.

An instance is a container named ``docklord-instance-<id>`` made from the instance image, with
container ports 22, 80 and 443 published on three consecutive host ports P, P+1, P+2 and the
user's key in ``/root/.ssh/authorized_keys``. The engine keeps everything we need in the
container's labels (id, owner, and P), so the allocation survives node restarts and a block is
free again as soon as its container is removed.

A block is taken when an instance container's label covers one of its ports, running or not,
or when binding one of them on the host address fails (another process listens there). Checks,
creation and start happen under one lock, so concurrent requests never pick the same block; if
the engine still reports a port as busy at start, the next block is tried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import structlog

from docklord.config import InstanceSettings
from docklord.engine import Engine
from docklord.errors import (
    Conflict,
    DocklordError,
    EngineError,
    NotFound,
)
from docklord.model import (
    INSTANCE_LABEL,
    NAME_PREFIX,
    OWNER_LABEL,
    PORTS_LABEL,
    ContainerSpec,
    ContainerSummary,
    FileEntry,
    PortSpec,
)
from docklord.node._handlers import Method, serve
from docklord.protocol import methods as m
from docklord.protocol.methods import instance_id, owner, ssh_public_key

__all__ = ["InstanceSettings", "instance_id", "methods", "owner", "ssh_public_key"]

log = structlog.get_logger(__name__)

#: The container ports of an instance, published in this order on P, P+1, P+2.
SERVICES = (("ssh", 22), ("http", 80), ("https", 443))
#: Seconds a stopping instance gets before SIGKILL.
STOP_TIMEOUT = 10
#: Blocks tried when the engine reports a port as busy at start.
START_ATTEMPTS = 5
_BUSY = ("port is already allocated", "address already in use")


# ---- ports ------------------------------------------------------------------------------


def block_of(summary: ContainerSummary) -> int | None:
    """The first port of an instance's block, from its label (``None`` if it has none)."""
    value = summary.labels.get(PORTS_LABEL, "")
    return int(value) if value.isdigit() else None


def reserved_ports(instances: Iterable[ContainerSummary]) -> set[int]:
    """Every host port the blocks of these instances cover."""
    ports: set[int] = set()
    for summary in instances:
        first = block_of(summary)
        if first is not None:
            ports.update(range(first, first + len(SERVICES)))
    return ports


def port_is_free(host_ip: str, port: int) -> bool:
    """Whether a listener could bind ``port`` on ``host_ip`` now (the socket closes at once).

    ``SO_REUSEADDR`` as the engine's proxy sets it: connections lingering in TIME_WAIT do not
    make a port busy, a listener does.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(host_ip).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host_ip, port))
        except OSError:
            return False
    return True


def free_block(base: int, taken: set[int], host_ip: str) -> int:
    """The lowest P >= ``base`` with P, P+1, P+2 neither in ``taken`` nor bound on the host.

    Raises:
        Conflict: no such block below 65536.
    """
    first = base
    while first + len(SERVICES) - 1 <= 65535:
        block = range(first, first + len(SERVICES))
        busy = next((p for p in block if p in taken or not port_is_free(host_ip, p)), None)
        if busy is None:
            return first
        first = busy + 1
    raise Conflict(f"no {len(SERVICES)} consecutive free ports at or above {base} on this node")


class _PortsBusy(Exception):
    """The engine could not publish the block (another process took one of its ports)."""


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, EngineError) and any(m in exc.message.lower() for m in _BUSY)


# ---- instances --------------------------------------------------------------------------


def instance_json(summary: ContainerSummary) -> dict[str, Any]:
    """The answer describing one instance, as sent."""
    return instance_info(summary).to_json()


def instance_info(summary: ContainerSummary) -> m.InstanceInfo:
    """The answer describing one instance."""
    first = block_of(summary)
    ports = {} if first is None else {name: first + i for i, (name, _) in enumerate(SERVICES)}
    return m.InstanceInfo(
        instance_id=summary.labels.get(INSTANCE_LABEL, ""),
        container_id=summary.id,
        name=summary.name,
        state=summary.state,
        ports=ports,
    )


class _Instances:
    def __init__(self, engine: Engine, settings: InstanceSettings) -> None:
        self.engine = engine
        self.settings = settings
        # One lock per node: allocation, creation and start of one instance at a time.
        self._lock = asyncio.Lock()

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.INSTANCES_CREATE, self.create),
                serve(m.INSTANCES_START, self.start),
                serve(m.INSTANCES_STOP, self.stop),
                serve(m.INSTANCES_DELETE, self.delete),
                serve(m.INSTANCES_LIST, self.list_instances),
            ]
        )

    async def _all(self) -> list[ContainerSummary]:
        filters = {"label": [INSTANCE_LABEL]}
        return await self.engine.list_containers(all=True, filters=filters)

    async def _find(self, args: m.InstanceArgs) -> ContainerSummary:
        wanted = args.instance_id
        try:
            summary = await self.engine.get_summary(NAME_PREFIX + wanted)
        except NotFound as exc:
            raise NotFound(f"no such instance: {wanted}") from exc
        if summary.labels.get(INSTANCE_LABEL) != wanted:
            raise NotFound(f"no such instance: {wanted}")
        return summary

    async def create(self, args: m.InstanceCreateArgs) -> m.InstanceInfo:
        wanted, who, key = args.instance_id, args.owner, args.ssh_public_key
        async with self._lock:
            existing = await self._all()
            if any(s.labels.get(INSTANCE_LABEL) == wanted for s in existing):
                raise Conflict(f"instance {wanted} already exists on this node")
            if len(existing) >= self.settings.max_instances:
                raise Conflict(
                    f"this node already has its maximum of {self.settings.max_instances} instances"
                )
            taken = reserved_ports(existing)
            for _ in range(START_ATTEMPTS):
                first = free_block(self.settings.port_base, taken, self.settings.host_ip)
                try:
                    container_id = await self._launch(wanted, who, key, first)
                except _PortsBusy:
                    log.info("instances.ports_busy", instance=wanted, port=first)
                    taken.update(range(first, first + len(SERVICES)))
                    continue
                log.info("instances.created", instance=wanted, owner=who, port=first)
                return instance_info(await self.engine.get_summary(container_id))
        raise Conflict(f"the engine found the ports busy {START_ATTEMPTS} times; try again")

    def _spec(self, wanted: str, who: str, first: int) -> ContainerSpec:
        host_ip = self.settings.host_ip
        return ContainerSpec(
            image=self.settings.image,
            name=NAME_PREFIX + wanted,
            labels={INSTANCE_LABEL: wanted, OWNER_LABEL: who, PORTS_LABEL: str(first)},
            ports=[
                PortSpec(port, host_ip=host_ip, host_port=first + i)
                for i, (_, port) in enumerate(SERVICES)
            ],
            restart_policy="unless-stopped",
        )

    async def _launch(self, wanted: str, who: str, key: str, first: int) -> str:
        """Create, install the key, start; a container that does not start is removed."""
        try:
            container_id = await self.engine.create_container(self._spec(wanted, who, first))
        except NotFound as exc:
            if not exc.message.startswith("image "):
                raise
            missing = f"instance image {self.settings.image} is not on this node"
            raise NotFound(missing) from exc
        try:
            await self.engine.put_files(container_id, "/root", _key_files(key))
            await self.engine.start(container_id)
        except BaseException as exc:
            await self._discard(container_id)
            if _is_busy(exc):
                raise _PortsBusy from exc
            raise
        return container_id

    async def _discard(self, container_id: str) -> None:
        try:
            await self.engine.remove(container_id, force=True, volumes=True)
        except DocklordError as exc:
            log.warning("instances.discard_failed", container=container_id, error=exc.message)

    async def start(self, args: m.InstanceArgs) -> m.InstanceInfo:
        summary = await self._find(args)
        try:
            await self.engine.start(summary.id)
        except EngineError as exc:
            if _is_busy(exc):
                raise Conflict(
                    f"a port of instance {summary.labels[INSTANCE_LABEL]} is in use: {exc.message}"
                ) from exc
            raise
        return instance_info(await self.engine.get_summary(summary.id))

    async def stop(self, args: m.InstanceArgs) -> m.InstanceInfo:
        summary = await self._find(args)
        await self.engine.stop(summary.id, timeout=STOP_TIMEOUT)
        return instance_info(await self.engine.get_summary(summary.id))

    async def delete(self, args: m.InstanceArgs) -> m.InstanceDeleted:
        summary = await self._find(args)
        await self.engine.remove(summary.id, force=True, volumes=True)
        log.info("instances.deleted", instance=summary.labels[INSTANCE_LABEL])
        return m.InstanceDeleted(instance_id=summary.labels[INSTANCE_LABEL], deleted=True)

    async def list_instances(self, args: m.NoArgs) -> m.InstanceList:
        instances = sorted(await self._all(), key=lambda s: (block_of(s) or 0, s.name))
        return m.InstanceList(
            instances=[instance_info(s) for s in instances],
            max_instances=self.settings.max_instances,
            port_base=self.settings.port_base,
        )


def _key_files(key: str) -> list[FileEntry]:
    return [
        FileEntry(".ssh", mode=0o700, is_dir=True),
        FileEntry(".ssh/authorized_keys", (key + "\n").encode(), mode=0o600),
    ]


def methods(engine: Engine, settings: InstanceSettings) -> dict[str, Method]:
    """Request methods of this module: ``instances.*``."""
    return _Instances(engine, settings).table()
