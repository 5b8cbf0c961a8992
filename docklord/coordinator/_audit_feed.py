"""Audit entries as the API shows them, and as the admins' events streams get them live.

Every entry the store commits in this process (``Store.audit_observers``) is pushed to the
events streams that see the whole fleet as ``{"kind": "audit", ...the entry}``; the stream
shows them to admins only (``docklord.web._container_policy``). Like alerts, they carry no
``seq`` and are not replayed on resume: a client that reconnects reads the missed ones from
``GET /api/v1/audit``. With several coordinator replicas each streams the entries it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docklord.coordinator._fleet import Fleet
from docklord.store import AuditEntry

__all__ = ["audit_json", "stream_audit"]


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry as the API and the events stream show it."""
    return {
        "id": entry.id,
        "time": entry.time.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "node": entry.target_node,
        "target": entry.target,
        "params": entry.params,
        "result": entry.result,
        "source_addr": entry.source_addr,
    }


def stream_audit(fleet: Fleet) -> Callable[[AuditEntry], None]:
    """The store observer that streams each committed entry to ``fleet``'s subscribers."""

    def observe(entry: AuditEntry) -> None:
        fleet.broadcast_fleetwide({"kind": "audit", **audit_json(entry)})

    return observe
