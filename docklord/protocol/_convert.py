"""The one place where domain values become wire messages and back."""

from __future__ import annotations

from typing import Any

import structlog

from docklord import engine as domain
from docklord.errors import DocklordError, InvalidInput, error_from_code
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol._codec import dump_json, load_json

__all__ = [
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
    )
    msg.ports.extend(_port_to_proto(port) for port in summary.ports)
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
    return pb.EngineInfo(
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
    return error_from_code(msg.code or DocklordError.code, msg.message, details)
