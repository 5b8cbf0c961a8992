"""Typed, frozen values returned by the engine layer; no raw engine JSON crosses this boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "ContainerState",
    "ContainerSummary",
    "EngineEvent",
    "EngineInfo",
    "PortBinding",
]


class ContainerState(str, Enum):
    """The states the engine reports for a container."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What the engine says about itself, plus the API version we negotiated."""

    version: str
    api_version: str
    min_api_version: str
    os: str
    arch: str
    kernel_version: str
    name: str
    containers: int
    images: int


@dataclass(frozen=True, slots=True)
class PortBinding:
    """One published (or only exposed) port of a container."""

    private_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """A container as the fleet view shows it: enough to render a row without another call.

    Times are Unix seconds (float); ``started_at``/``finished_at`` are ``None`` when the engine
    has never started or stopped the container. ``exit_code`` is ``None`` unless the container
    has run and stopped.
    """

    id: str
    name: str
    image: str
    image_id: str = ""
    command: str = ""
    state: str = ContainerState.CREATED.value
    status: str = ""
    created: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    ports: tuple[PortBinding, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One engine event, read from ``Type``/``Action``/``Actor`` (robust across API versions).

    ``action`` is the bare verb (``exec_start: sh`` becomes ``exec_start``); ``time_nano`` is
    the engine's ``timeNano``.
    """

    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = 0
    scope: str = "local"
