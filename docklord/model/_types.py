"""Typed, frozen values returned by the engine layer; no raw engine JSON crosses this boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "ContainerDetails",
    "ContainerState",
    "ContainerSummary",
    "EngineEvent",
    "EngineInfo",
    "ExecResult",
    "ImageSummary",
    "LogChunk",
    "MountInfo",
    "NetworkSummary",
    "OVERSIZED_EVENT",
    "PortBinding",
    "ProcessList",
    "PruneResult",
    "PullProgress",
    "StatsSample",
    "VolumeSummary",
]


class ContainerState(StrEnum):
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
    has run and stopped. ``restart_count`` is the engine's ``RestartCount`` (restarts by the
    restart policy since the container was last started by hand, which resets it to 0); the
    list endpoint does not report it, so it is 0 in summaries made from a listing.
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
    restart_count: int = 0


#: The ``type`` of the stand-in for an event too long to read (``Engine.events``).
OVERSIZED_EVENT = "docklord.oversized"


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One engine event, read from ``Type``/``Action``/``Actor`` (robust across API versions).

    ``action`` is the bare verb (``exec_start: sh`` becomes ``exec_start``); the full action
    text is then kept in ``attributes["action_detail"]``. ``time_nano`` is the engine's
    ``timeNano``. The deprecated ``status``/``id``/``from`` fields are never read.
    """

    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = 0
    scope: str = "local"


@dataclass(frozen=True, slots=True)
class MountInfo:
    """One mount of a container as the engine reports it after creation."""

    type: str
    source: str
    target: str
    read_only: bool = False
    name: str = ""


@dataclass(frozen=True, slots=True)
class ContainerDetails:
    """Everything ``inspect`` says about a container, typed; ``raw`` keeps the full JSON.

    ``memory`` and ``nano_cpus`` are ``None`` when unlimited; ``pid`` is ``None`` unless the
    container runs. ``networks`` maps each attached network's name to the container's IPv4
    address in it (``""`` while stopped). ``raw`` is the engine's inspect document, meant
    only for an API endpoint that returns it verbatim (treat it as read-only).
    """

    summary: ContainerSummary
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    open_stdin: bool = False
    hostname: str = ""
    restart_policy: str = "no"
    restart_max_retries: int = 0
    memory: int | None = None
    nano_cpus: int | None = None
    binds: tuple[str, ...] = ()
    mounts: tuple[MountInfo, ...] = ()
    networks: Mapping[str, str] = field(default_factory=dict)
    pid: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProcessList:
    """The processes of a container (``top``): column titles and one row per process."""

    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Bytes of one output stream of a container, in the order the engine sent them.

    A chunk holds one or more consecutive engine frames of the same stream; its boundaries
    carry no meaning (a chunk may end in the middle of a line), so callers split lines.
    """

    stream: Literal["stdout", "stderr"]
    data: bytes


@dataclass(frozen=True, slots=True)
class StatsSample:
    """One resource sample, computed the way the ``docker stats`` CLI computes it.

    ``read`` is the engine's sample time in Unix seconds. ``memory_usage`` excludes the page
    cache (``inactive_file``) like the CLI. Counters (network, block I/O) are totals since the
    container started. ``cpu_time`` (CPU seconds used since the container started) and
    ``memory_total_usage`` (page cache included) are the raw counters monitoring systems such
    as Prometheus expect (cAdvisor's ``container_cpu_usage_seconds_total`` and
    ``container_memory_usage_bytes``).
    """

    read: float
    cpu_percent: float = 0.0
    memory_usage: int = 0
    memory_limit: int = 0
    memory_percent: float = 0.0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0
    cpu_time: float = 0.0
    memory_total_usage: int = 0


@dataclass(frozen=True, slots=True)
class ExecResult:
    """The outcome of a one-shot command run in a container.

    ``exit_code`` is ``None`` when the command timed out (``timed_out``) or the engine did not
    record one.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """One local image. ``created`` is Unix seconds; ``<none>`` placeholders are dropped."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: float = 0.0
    size: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One progress message of an image pull.

    ``id`` is the layer (or tag) the message is about; ``progress_current``/``progress_total``
    are bytes when the engine reports them; ``detail`` is the engine's human progress text
    (a bar such as ``[==>   ] 1.2MB/4MB``); ``error`` is set only on the failure message.
    """

    status: str
    id: str = ""
    progress_current: int | None = None
    progress_total: int | None = None
    detail: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed (ids or names, as the engine names them) and the bytes freed."""

    deleted: tuple[str, ...] = ()
    space_reclaimed: int = 0


@dataclass(frozen=True, slots=True)
class VolumeSummary:
    """One volume. ``created`` is Unix seconds (``None`` when the engine does not say)."""

    name: str
    driver: str = "local"
    mountpoint: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    created: float | None = None


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    """One network."""

    id: str
    name: str
    driver: str = "bridge"
    scope: str = "local"
    labels: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
