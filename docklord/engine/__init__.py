"""The engine layer: a narrow, typed, async interface over the Docker Engine API.

Nothing outside this package talks to the engine or imports aiodocker/aiohttp; every value
that leaves it is a frozen dataclass from here, every error one of :mod:`docklord.errors`.
"""

from __future__ import annotations

from docklord.engine._client import DEFAULT_DOCKER_HOST, MAX_API_VERSION, MIN_API_VERSION
from docklord.engine._engine import Engine
from docklord.engine._parse import human_duration
from docklord.engine._session import ExecSession
from docklord.engine._specs import RESTART_POLICIES, ContainerSpec, FileEntry, MountSpec, PortSpec
from docklord.engine._types import (
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
    "DEFAULT_DOCKER_HOST",
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "OVERSIZED_EVENT",
    "RESTART_POLICIES",
    "ContainerDetails",
    "ContainerSpec",
    "ContainerState",
    "ContainerSummary",
    "Engine",
    "EngineEvent",
    "EngineInfo",
    "ExecResult",
    "ExecSession",
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
    "StatsSample",
    "VolumeSummary",
    "human_duration",
]
