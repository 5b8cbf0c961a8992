"""Domain value types: what a container, an image, an event or a spec *is*, free of any transport.

A leaf package (DESIGN.md §12): it imports only :mod:`docklord.errors`. The engine adapter
returns these values, the protocol converts them to and from wire messages, and the coordinator
and web keep and serve them, so none of those needs the Docker client (aiodocker, aiohttp) to
name a ``ContainerSummary``. The labels and name prefix that mark an instance container,
and the engine's log timestamps (how a resumed log read skips what was delivered), are here
too, for the same reason: both ends of the link use them.
"""

from __future__ import annotations

from docklord.model._instances import INSTANCE_LABEL, NAME_PREFIX, OWNER_LABEL, PORTS_LABEL
from docklord.model._logstamps import STAMP_SIZE, Resume, split_stamp, stamp_seconds
from docklord.model._roles import Role
from docklord.model._specs import RESTART_POLICIES, ContainerSpec, FileEntry, MountSpec, PortSpec
from docklord.model._types import (
    OVERSIZED_EVENT,
    ContainerDetails,
    ContainerState,
    ContainerSummary,
    EngineEvent,
    EngineInfo,
    ExecResult,
    ImageSummary,
    LogChunk,
    MountInfo,
    NetworkSummary,
    PortBinding,
    ProcessList,
    PruneResult,
    PullProgress,
    StatsSample,
    VolumeSummary,
)

__all__ = [
    "INSTANCE_LABEL",
    "NAME_PREFIX",
    "OVERSIZED_EVENT",
    "OWNER_LABEL",
    "PORTS_LABEL",
    "RESTART_POLICIES",
    "STAMP_SIZE",
    "ContainerDetails",
    "ContainerSpec",
    "ContainerState",
    "ContainerSummary",
    "EngineEvent",
    "EngineInfo",
    "ExecResult",
    "FileEntry",
    "ImageSummary",
    "LogChunk",
    "MountInfo",
    "MountSpec",
    "NetworkSummary",
    "PortBinding",
    "PortSpec",
    "ProcessList",
    "PruneResult",
    "PullProgress",
    "Resume",
    "Role",
    "StatsSample",
    "VolumeSummary",
    "split_stamp",
    "stamp_seconds",
]
