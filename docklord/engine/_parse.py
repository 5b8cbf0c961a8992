"""Engine JSON to typed values: the only place that knows the engine's field names.

Pure functions (no I/O), so they can be unit-tested with recorded documents. They read only
fields that exist in every API version from 1.41 on, and tolerate ``null`` where the engine
sends it for "empty".
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from docklord.model import (
    ContainerDetails,
    ContainerState,
    ContainerSummary,
    MountInfo,
    PortBinding,
)

__all__ = [
    "container_details",
    "container_summary_from_inspect",
    "container_summary_from_list",
    "human_duration",
    "parse_time",
    "str_map",
]

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")
_EXIT_IN_STATUS = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")


def parse_time(value: object) -> float | None:
    """RFC 3339 with nanoseconds (as the engine writes it) to Unix seconds.

    Returns ``None`` for the zero time (``0001-01-01T00:00:00Z``), an empty or unreadable
    value.
    """
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(base + zone).timestamp()
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


def str_map(value: object) -> dict[str, str]:
    """A ``{str: str}`` copy of an engine mapping that may be ``null``."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _strs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence):
        return ()
    return tuple(str(v) for v in value)


def human_duration(seconds: float) -> str:
    """A duration the way the Docker CLI and the engine's ``Status`` column write it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return "1 second" if s == 1 else f"{s} seconds"
    minutes = s // 60
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    steps = ((48, 1, "hours"), (24 * 14, 24, "days"), (24 * 60, 24 * 7, "weeks"))
    for limit, unit, word in (*steps, (24 * 365 * 2, 24 * 30, "months")):
        if hours < limit:
            return f"{hours // unit} {word}"
    return f"{int(seconds // 3600) // (24 * 365)} years"


def _ports_from_list(items: object) -> tuple[PortBinding, ...]:
    ports = [
        PortBinding(
            private_port=int(p.get("PrivatePort", 0)),
            protocol=str(p.get("Type", "tcp")),
            host_ip=str(p.get("IP", "")),
            host_port=int(p["PublicPort"]) if p.get("PublicPort") else None,
        )
        for p in (items if isinstance(items, list) else [])
    ]
    return tuple(sorted(ports, key=_port_key))


def _port_key(p: PortBinding) -> tuple[int, str, str, int]:
    return (p.private_port, p.protocol, p.host_ip, p.host_port or 0)


def _split_port(key: str) -> tuple[int, str]:
    number, _, protocol = key.partition("/")
    return int(number), protocol or "tcp"


def _ports_from_inspect(doc: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    published = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    exposed = (doc.get("Config") or {}).get("ExposedPorts") or {}
    ports: list[PortBinding] = []
    for key in sorted(set(published) | set(exposed)):
        private, protocol = _split_port(key)
        bindings = published.get(key) or []
        if not bindings:
            ports.append(PortBinding(private, protocol))
        for b in bindings:
            host_port = int(b["HostPort"]) if b.get("HostPort") else None
            ports.append(PortBinding(private, protocol, str(b.get("HostIp", "")), host_port))
    return tuple(sorted(ports, key=_port_key))


def container_summary_from_list(item: Mapping[str, Any]) -> ContainerSummary:
    """One entry of ``GET /containers/json``.

    The list carries no start/finish times (they stay ``None``); the exit code is read from
    the ``Status`` text (``Exited (3) 2 minutes ago``).
    """
    names = _strs(item.get("Names"))
    status = str(item.get("Status", ""))
    exit_match = _EXIT_IN_STATUS.match(status)
    return ContainerSummary(
        id=str(item["Id"]),
        name=names[0].lstrip("/") if names else "",
        image=str(item.get("Image", "")),
        image_id=str(item.get("ImageID", "")),
        command=str(item.get("Command", "")),
        state=str(item.get("State", "")),
        status=status,
        created=float(item.get("Created", 0)),
        exit_code=int(exit_match.group(1)) if exit_match else None,
        ports=_ports_from_list(item.get("Ports")),
        labels=str_map(item.get("Labels")),
    )


def _status_text(state: Mapping[str, Any], started: float | None, finished: float | None) -> str:
    """The engine's ``Status`` column, rebuilt from ``State`` (inspect has no such text)."""
    now = time.time()
    code = state.get("ExitCode", 0)
    health = (state.get("Health") or {}).get("Status", "")
    if state.get("Restarting"):
        return f"Restarting ({code}) {human_duration(now - (finished or now))} ago"
    if state.get("Running"):
        text = f"Up {human_duration(now - (started or now))}"
        if state.get("Paused"):
            return f"{text} (Paused)"
        return f"{text} ({health})" if health and health != "none" else text
    if state.get("Status") == ContainerState.REMOVING.value:
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({code}) {human_duration(now - finished)} ago"


def _command(doc: Mapping[str, Any]) -> str:
    return " ".join((str(doc.get("Path", "")), *_strs(doc.get("Args")))).strip()


def container_summary_from_inspect(doc: Mapping[str, Any]) -> ContainerSummary:
    """A :class:`ContainerSummary` from ``GET /containers/{id}/json``.

    ``exit_code`` is ``None`` while the container never ran or runs (as the summary type
    documents); otherwise it is ``State.ExitCode``.
    """
    state = doc.get("State") or {}
    config = doc.get("Config") or {}
    started = parse_time(state.get("StartedAt"))
    finished = parse_time(state.get("FinishedAt"))
    status = str(state.get("Status", ""))
    running = status in (ContainerState.RUNNING.value, ContainerState.PAUSED.value)
    ran = started is not None and not running
    return ContainerSummary(
        id=str(doc["Id"]),
        name=str(doc.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        image_id=str(doc.get("Image", "")),
        command=_command(doc),
        state=status,
        status=_status_text(state, started, finished),
        created=parse_time(doc.get("Created")) or 0.0,
        started_at=started,
        finished_at=finished,
        exit_code=int(state.get("ExitCode", 0)) if ran else None,
        ports=_ports_from_inspect(doc),
        labels=str_map(config.get("Labels")),
        restart_count=_count(doc.get("RestartCount")),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _env(items: object) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in _strs(items):
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _mounts(items: object) -> tuple[MountInfo, ...]:
    return tuple(
        MountInfo(
            type=str(m.get("Type", "")),
            source=str(m.get("Source", "")),
            target=str(m.get("Destination", "")),
            read_only=not m.get("RW", True),
            name=str(m.get("Name", "")),
        )
        for m in (items if isinstance(items, list) else [])
    )


def _networks(settings: Mapping[str, Any]) -> dict[str, str]:
    networks = settings.get("Networks") or {}
    return {str(name): str((n or {}).get("IPAddress", "")) for name, n in networks.items()}


def container_details(doc: Mapping[str, Any]) -> ContainerDetails:
    """A :class:`ContainerDetails` from ``GET /containers/{id}/json``."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    policy = host.get("RestartPolicy") or {}
    pid = int((doc.get("State") or {}).get("Pid", 0))
    return ContainerDetails(
        summary=container_summary_from_inspect(doc),
        cmd=_strs(config.get("Cmd")),
        entrypoint=_strs(config.get("Entrypoint")),
        env=_env(config.get("Env")),
        working_dir=str(config.get("WorkingDir", "")),
        user=str(config.get("User", "")),
        tty=bool(config.get("Tty", False)),
        open_stdin=bool(config.get("OpenStdin", False)),
        hostname=str(config.get("Hostname", "")),
        restart_policy=str(policy.get("Name", "")) or "no",
        restart_max_retries=int(policy.get("MaximumRetryCount", 0)),
        memory=int(host.get("Memory", 0)) or None,
        nano_cpus=int(host.get("NanoCpus", 0)) or None,
        binds=_strs(host.get("Binds")),
        mounts=_mounts(doc.get("Mounts")),
        networks=_networks(doc.get("NetworkSettings") or {}),
        pid=pid or None,
        raw=dict(doc),
    )
