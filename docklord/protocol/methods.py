"""The node request methods: each name with its argument and result types, for both ends.

Use as ``from docklord.protocol import methods`` and
``await coordinator.call(node, methods.CONTAINERS_STOP, methods.StopArgs(ref=...))``; the node
serves exactly the methods of :data:`METHODS` (a test pins that). ``docs/LINK.md`` ("Request
methods") lists them with their rules.
"""

from __future__ import annotations

from typing import Any

from docklord.protocol._channel_args import ChannelKind, ExecSessionArgs, LogsArgs, PullArgs
from docklord.protocol._method_args import (
    CommandArgs,
    CreateArgs,
    ExecArgs,
    ImageRemoveArgs,
    InspectArgs,
    KillArgs,
    NetworkCreateArgs,
    NoArgs,
    PruneArgs,
    RefArgs,
    RemoveArgs,
    StopArgs,
    TopArgs,
    VolumeCreateArgs,
    VolumeRemoveArgs,
    container_spec,
)
from docklord.protocol._method_results import (
    MAX_KEY,
    MAX_OWNER,
    CommandOutput,
    ContainerState,
    Created,
    ExecOutput,
    ImageRemoved,
    InstanceArgs,
    InstanceCreateArgs,
    InstanceDeleted,
    InstanceInfo,
    InstanceList,
    Pong,
    Removed,
    instance_id,
    owner,
    ssh_public_key,
)
from docklord.protocol._methods import (
    MAX_EXEC_TIMEOUT,
    MAX_STOP_TIMEOUT,
    Json,
    MethodArgs,
    MethodResult,
    NodeMethod,
    counts,
    json_object,
    signal_name,
    to_wire,
)

__all__ = [
    "CHANNELS",
    "EXEC_SESSION",
    "IMAGES_PULL",
    "LOGS",
    "STATS",
    "TUNNEL",
    "ChannelKind",
    "ExecSessionArgs",
    "LogsArgs",
    "PullArgs",
    "CONTAINERS_CREATE",
    "CONTAINERS_EXEC",
    "CONTAINERS_INSPECT",
    "CONTAINERS_KILL",
    "CONTAINERS_PAUSE",
    "CONTAINERS_REMOVE",
    "CONTAINERS_RESTART",
    "CONTAINERS_START",
    "CONTAINERS_STATS_ONCE",
    "CONTAINERS_STOP",
    "CONTAINERS_TOP",
    "CONTAINERS_UNPAUSE",
    "CommandArgs",
    "CommandOutput",
    "ContainerState",
    "CreateArgs",
    "Created",
    "ENGINE_INFO",
    "ExecArgs",
    "ExecOutput",
    "IMAGES_LIST",
    "IMAGES_PRUNE",
    "IMAGES_REMOVE",
    "INSTANCES_CREATE",
    "INSTANCES_DELETE",
    "INSTANCES_LIST",
    "INSTANCES_START",
    "INSTANCES_STOP",
    "ImageRemoveArgs",
    "ImageRemoved",
    "InspectArgs",
    "InstanceArgs",
    "InstanceCreateArgs",
    "InstanceDeleted",
    "InstanceInfo",
    "InstanceList",
    "Json",
    "KillArgs",
    "LITTLEWINGS_COMMAND",
    "MAX_EXEC_TIMEOUT",
    "MAX_KEY",
    "MAX_OWNER",
    "MAX_STOP_TIMEOUT",
    "METHODS",
    "MethodArgs",
    "MethodResult",
    "NETWORKS_CREATE",
    "NETWORKS_LIST",
    "NETWORKS_PRUNE",
    "NETWORKS_REMOVE",
    "NetworkCreateArgs",
    "NoArgs",
    "NodeMethod",
    "PING",
    "Pong",
    "PruneArgs",
    "RefArgs",
    "RemoveArgs",
    "Removed",
    "STREAMS_ACTIVE",
    "StopArgs",
    "TopArgs",
    "VOLUMES_CREATE",
    "VOLUMES_LIST",
    "VOLUMES_PRUNE",
    "VOLUMES_REMOVE",
    "VolumeCreateArgs",
    "VolumeRemoveArgs",
    "container_spec",
    "counts",
    "instance_id",
    "json_object",
    "owner",
    "signal_name",
    "ssh_public_key",
    "to_wire",
]

PING = NodeMethod("ping", NoArgs, Pong.from_json)
ENGINE_INFO = NodeMethod("engine.info", NoArgs, json_object)

CONTAINERS_CREATE = NodeMethod("containers.create", CreateArgs, Created.from_json)
CONTAINERS_INSPECT = NodeMethod("containers.inspect", InspectArgs, json_object)
CONTAINERS_START = NodeMethod("containers.start", RefArgs, ContainerState.from_json)
CONTAINERS_PAUSE = NodeMethod("containers.pause", RefArgs, ContainerState.from_json)
CONTAINERS_UNPAUSE = NodeMethod("containers.unpause", RefArgs, ContainerState.from_json)
CONTAINERS_STOP = NodeMethod("containers.stop", StopArgs, ContainerState.from_json)
CONTAINERS_RESTART = NodeMethod("containers.restart", StopArgs, ContainerState.from_json)
CONTAINERS_KILL = NodeMethod("containers.kill", KillArgs, ContainerState.from_json)
CONTAINERS_REMOVE = NodeMethod("containers.remove", RemoveArgs, Removed.from_json)
CONTAINERS_TOP = NodeMethod("containers.top", TopArgs, json_object)
CONTAINERS_EXEC = NodeMethod("containers.exec", ExecArgs, ExecOutput.from_json)
CONTAINERS_STATS_ONCE = NodeMethod("containers.stats_once", RefArgs, json_object)

IMAGES_LIST = NodeMethod("images.list", NoArgs, json_object)
IMAGES_REMOVE = NodeMethod("images.remove", ImageRemoveArgs, ImageRemoved.from_json)
IMAGES_PRUNE = NodeMethod("images.prune", PruneArgs, json_object)
VOLUMES_LIST = NodeMethod("volumes.list", NoArgs, json_object)
VOLUMES_CREATE = NodeMethod("volumes.create", VolumeCreateArgs, json_object)
VOLUMES_REMOVE = NodeMethod("volumes.remove", VolumeRemoveArgs, json_object)
VOLUMES_PRUNE = NodeMethod("volumes.prune", PruneArgs, json_object)
NETWORKS_LIST = NodeMethod("networks.list", NoArgs, json_object)
NETWORKS_CREATE = NodeMethod("networks.create", NetworkCreateArgs, json_object)
NETWORKS_REMOVE = NodeMethod("networks.remove", RefArgs, json_object)
NETWORKS_PRUNE = NodeMethod("networks.prune", PruneArgs, json_object)

LITTLEWINGS_COMMAND = NodeMethod("littlewings.command", CommandArgs, CommandOutput.from_json)
STREAMS_ACTIVE = NodeMethod("streams.active", NoArgs, counts)

INSTANCES_CREATE = NodeMethod("instances.create", InstanceCreateArgs, InstanceInfo.from_json)
INSTANCES_START = NodeMethod("instances.start", InstanceArgs, InstanceInfo.from_json)
INSTANCES_STOP = NodeMethod("instances.stop", InstanceArgs, InstanceInfo.from_json)
INSTANCES_DELETE = NodeMethod("instances.delete", InstanceArgs, InstanceDeleted.from_json)
INSTANCES_LIST = NodeMethod("instances.list", NoArgs, InstanceList.from_json)

#: Every method by its wire name.
METHODS: dict[str, NodeMethod[Any, Any]] = {
    m.name: m for m in list(globals().values()) if isinstance(m, NodeMethod)
}

# ---- channel kinds ------------------------------------------------------------------------

LOGS = ChannelKind("logs", LogsArgs)
STATS = ChannelKind("stats", RefArgs)
EXEC_SESSION = ChannelKind("exec", ExecSessionArgs)
TUNNEL = ChannelKind("tunnel", NoArgs)
IMAGES_PULL = ChannelKind("images.pull", PullArgs)

#: Every channel kind by its wire name.
CHANNELS: dict[str, ChannelKind[Any]] = {
    k.name: k for k in (LOGS, STATS, EXEC_SESSION, TUNNEL, IMAGES_PULL)
}
