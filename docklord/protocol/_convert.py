"""The one place where domain values become wire messages and back.

It is also the boundary check of what a node sends: :func:`check_hello` and
:func:`clean_envelope` hold every field to the table in ``_limits`` before the coordinator
keeps or serves any of it.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

import structlog
from google.protobuf.message import Message

from docklord import model as domain
from docklord.errors import DocklordError, InvalidInput, error_from_code
from docklord.protocol import _limits as limits
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol._codec import dump_json, load_json

__all__ = [
    "check_hello",
    "clean_envelope",
    "engine_info_from_proto",
    "engine_info_to_proto",
    "error_from_proto",
    "error_to_proto",
    "summary_from_proto",
    "summary_to_proto",
]

log = structlog.get_logger(__name__)


def summary_to_proto(summary: domain.ContainerSummary) -> pb.ContainerSummary:
    """Converts a container summary; ``None`` times and exit code stay absent on the wire."""
    msg = pb.ContainerSummary(
        id=summary.id,
        name=summary.name,
        image=summary.image,
        image_id=summary.image_id,
        command=summary.command,
        state=summary.state,
        status=summary.status,
        created=summary.created,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        exit_code=summary.exit_code,
        labels=dict(summary.labels),
        restart_count=max(0, min(summary.restart_count, 2**32 - 1)),
    )
    msg.ports.extend(_port_to_proto(port) for port in summary.ports)
    _clean_summary(msg)
    return msg


def summary_from_proto(msg: pb.ContainerSummary) -> domain.ContainerSummary:
    """Rebuilds a container summary; absent optional fields become ``None``."""
    return domain.ContainerSummary(
        id=msg.id,
        name=msg.name,
        image=msg.image,
        image_id=msg.image_id,
        command=msg.command,
        state=msg.state,
        status=msg.status,
        created=msg.created,
        started_at=msg.started_at if msg.HasField("started_at") else None,
        finished_at=msg.finished_at if msg.HasField("finished_at") else None,
        exit_code=msg.exit_code if msg.HasField("exit_code") else None,
        ports=tuple(_port_from_proto(port) for port in msg.ports),
        labels=dict(msg.labels),
        restart_count=msg.restart_count,
    )


def _port_to_proto(port: domain.PortBinding) -> pb.PortBinding:
    return pb.PortBinding(
        private_port=port.private_port,
        protocol=port.protocol,
        host_ip=port.host_ip,
        host_port=port.host_port or 0,
    )


def _port_from_proto(msg: pb.PortBinding) -> domain.PortBinding:
    return domain.PortBinding(
        private_port=msg.private_port,
        protocol=msg.protocol,
        host_ip=msg.host_ip,
        host_port=msg.host_port or None,
    )


def engine_info_to_proto(info: domain.EngineInfo) -> pb.EngineInfo:
    """Converts what the engine says about itself."""
    msg = pb.EngineInfo(
        version=info.version,
        api_version=info.api_version,
        min_api_version=info.min_api_version,
        os=info.os,
        arch=info.arch,
        kernel_version=info.kernel_version,
        name=info.name,
        containers=info.containers,
        images=info.images,
    )
    _clip(msg)
    return msg


def engine_info_from_proto(msg: pb.EngineInfo) -> domain.EngineInfo:
    """Rebuilds the engine's self-description."""
    return domain.EngineInfo(
        version=msg.version,
        api_version=msg.api_version,
        min_api_version=msg.min_api_version,
        os=msg.os,
        arch=msg.arch,
        kernel_version=msg.kernel_version,
        name=msg.name,
        containers=msg.containers,
        images=msg.images,
    )


def error_to_proto(error: DocklordError) -> pb.Error:
    """Converts an error for the wire: its ``code``, message and details (as JSON)."""
    details = dump_json(error.details) if error.details else b""
    return pb.Error(code=error.code, message=error.message, details=details)


def error_from_proto(msg: pb.Error) -> DocklordError:
    """Rebuilds the error of the same class (``error_from_code``); unknown codes give the base.

    Details that are not a JSON object are dropped with a warning: the error itself must
    still reach the caller.
    """
    details: dict[str, Any] | None = None
    if msg.details:
        try:
            loaded = load_json(msg.details)
        except InvalidInput as exc:
            log.warning("protocol.bad_error_details", code=msg.code, error=str(exc))
        else:
            if isinstance(loaded, dict):
                details = loaded
            else:
                log.warning("protocol.bad_error_details", code=msg.code, error="not an object")
    _clip(msg)
    return error_from_code(msg.code or DocklordError.code, msg.message, details)


# ---- the boundary: what a node sends ---------------------------------------------------------


def check_hello(hello: pb.Hello) -> None:
    """Checks a node's ``Hello``: identity fields must be in bounds, the rest is clipped.

    Raises:
        InvalidInput: a malformed node id, or an oversized secret or enrollment token.
    """
    if hello.node_id and not limits.NODE_ID_PATTERN.fullmatch(hello.node_id):
        raise InvalidInput(
            "a node id is 1-128 characters: letters, digits and . _ -, "
            "starting with a letter or digit"
        )
    if len(hello.proof) > limits.MAX_SECRET:
        raise InvalidInput(f"the node secret is longer than {limits.MAX_SECRET} characters")
    if len(hello.enroll_token) > limits.MAX_ENROLL_TOKEN:
        raise InvalidInput("the enrollment token is malformed")
    _clip(hello)
    if hello.HasField("engine"):
        _clip(hello.engine)


def clean_envelope(env: pb.Envelope) -> None:
    """Holds a node's snapshot, events and engine status to the limits, in place.

    Never raises: out-of-bounds values are clipped, dropped or made "unknown" (see
    ``_limits``). Other frames carry JSON or channel bytes, checked where they are decoded.
    """
    kind = env.WhichOneof("body")
    if kind == "snapshot":
        snapshot = env.snapshot
        _truncate(snapshot.containers, limits.MAX_CONTAINERS)
        for summary in snapshot.containers:
            _clean_summary(summary)
        _clean_events(snapshot.journal)
        if snapshot.HasField("engine"):
            _clean_engine_status(snapshot.engine)
    elif kind == "events":
        _clean_events(env.events.events)
    elif kind == "engine_status":
        _clean_engine_status(env.engine_status)


def _clean_engine_status(status: pb.EngineStatus) -> None:
    _clip(status)
    if status.HasField("engine"):
        _clip(status.engine)


def _clean_events(events: Any) -> None:
    _truncate(events, limits.MAX_EVENTS)
    for event in events:
        _clip(event)
        _clean_map(event.attributes)
        if not 0 <= event.time_nano <= limits.MAX_TIME * 1e9:
            event.time_nano = 0
        if event.HasField("container"):
            _clean_summary(event.container)


def _clean_summary(msg: pb.ContainerSummary) -> None:
    _clip(msg)
    if not _is_time(msg.created):
        msg.created = 0.0
    for optional in ("started_at", "finished_at"):
        if msg.HasField(optional) and not _is_time(getattr(msg, optional)):
            msg.ClearField(optional)
    _clean_map(msg.labels)
    if len(msg.ports) > limits.MAX_PORTS or any(not _port_ok(p) for p in msg.ports):
        kept = [p for p in msg.ports[: limits.MAX_PORTS] if 0 < p.private_port <= 65535]
        del msg.ports[:]
        msg.ports.extend(kept)
    for port in msg.ports:
        if port.host_port > 65535:
            port.host_port = 0
        _clip(port)


def _port_ok(port: pb.PortBinding) -> bool:
    return 0 < port.private_port <= 65535


def _is_time(value: float) -> bool:
    return math.isfinite(value) and 0.0 <= value <= limits.MAX_TIME


def _clip(msg: Message) -> None:
    """Cuts the message's string fields to their limits in ``STRING_LIMITS``."""
    for name, size in limits.STRING_LIMITS[msg.DESCRIPTOR.name].items():
        value = getattr(msg, name)
        if len(value) > size:
            setattr(msg, name, value[:size])


def _clean_map(entries: MutableMapping[str, str]) -> None:
    too_long = [k for k, v in entries.items() if len(k) > limits.MAX_MAP_KEY]
    for key in too_long:
        del entries[key]
    for key in list(entries)[limits.MAX_MAP_ENTRIES :]:
        del entries[key]
    for key in [k for k, v in entries.items() if len(v) > limits.MAX_MAP_VALUE]:
        entries[key] = entries[key][: limits.MAX_MAP_VALUE]


def _truncate(items: Any, size: int) -> None:
    if len(items) > size:
        del items[size:]
