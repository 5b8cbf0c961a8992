from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from docklord.model import ContainerSummary
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import summary_from_proto

__all__ = ["container_json", "event_json", "iso"]


def iso(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def container_json(node_id: str, c: ContainerSummary) -> dict[str, Any]:
    """A container summary as every API and stream shows it."""
    return {
        "node_id": node_id,
        "id": c.id,
        "name": c.name,
        "image": c.image,
        "image_id": c.image_id,
        "command": c.command,
        "state": c.state,
        "status": c.status,
        "created": iso(c.created),
        "started_at": iso(c.started_at),
        "finished_at": iso(c.finished_at),
        "exit_code": c.exit_code,
        "restart_count": c.restart_count,
        "ports": [
            {
                "private_port": p.private_port,
                "protocol": p.protocol,
                "host_ip": p.host_ip or None,
                "host_port": p.host_port,
            }
            for p in c.ports
        ],
        "labels": dict(c.labels),
    }


def event_json(node_id: str, event: pb.Event) -> dict[str, Any]:
    """A node event as the events stream shows it."""
    message: dict[str, Any] = {
        "kind": "event",
        "seq": event.seq,
        "node_id": node_id,
        "type": event.type,
        "action": event.action,
        "actor_id": event.actor_id,
        "time": iso(event.time_nano / 1e9) if event.time_nano else None,
        "time_nano": event.time_nano,
        "attributes": dict(event.attributes),
        "removed": event.removed,
    }
    if event.type == "container":
        message["container"] = (
            None if event.removed else container_json(node_id, summary_from_proto(event.container))
        )
    return message
