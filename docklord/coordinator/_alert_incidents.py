"""The evaluator's state: open incidents and conditions waiting for their duration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from docklord.coordinator._alert_rules import Kind, Rule
from docklord.errors import Conflict
from docklord.protocol import docklord_pb2 as pb
from docklord.store import Alert, Store

__all__ = ["Incident", "Pending", "claim", "from_alert", "measure"]

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class Incident:
    """One open incident; ``alert`` is set once the store recorded it."""

    rule: Rule
    subject: str
    node_id: str
    container_id: str | None
    container_name: str | None
    summary: str
    details: dict[str, Any]
    last_seen: float
    alert: Alert | None = None


@dataclass
class Pending:
    """Conditions that must hold for a duration before they fire: key -> since."""

    offline: dict[str, float] = field(default_factory=dict)
    engine_down: dict[str, float] = field(default_factory=dict)
    above: dict[tuple[int, str], float] = field(default_factory=dict)


def measure(rule: Rule, sample: pb.ContainerStats) -> tuple[float, float, str]:
    """The sample's value, the rule's threshold and their unit."""
    if rule.kind is Kind.CPU_HIGH:
        return round(sample.cpu_percent, 2), rule.number("threshold", 90.0), "%"
    if "threshold_bytes" in rule.params:
        return float(sample.memory_usage), rule.number("threshold_bytes", 0.0), " B"
    percent = 100.0 * sample.memory_usage / sample.memory_limit if sample.memory_limit else 0.0
    return round(percent, 2), rule.number("threshold", 90.0), "%"


def from_alert(rule: Rule, alert: Alert, now: float) -> Incident:
    return Incident(
        rule,
        alert.subject,
        alert.node_id,
        alert.container_id,
        alert.container_name,
        alert.summary,
        dict(alert.details),
        now,
        alert,
    )


async def claim(store: Store, incident: Incident) -> Alert | None:
    """Open ``incident`` in the store; the alert when this coordinator opened it (and so sends
    it), ``None`` when another one had.

    Coordinators sharing the database all see the same condition: the store lets one open the
    incident (at most one is firing per rule and subject); the others take that incident as
    theirs, so that they can resolve it, and send nothing.
    """
    rule = incident.rule
    for _ in range(3):  # the other's incident may resolve between our tries
        try:
            incident.alert = await store.open_alert(
                rule.id,
                rule.name,
                rule.kind.value,
                incident.subject,
                node_id=incident.node_id,
                container_id=incident.container_id,
                container_name=incident.container_name,
                summary=incident.summary,
                details=incident.details,
            )
            return incident.alert
        except Conflict:
            incident.alert = await store.firing_alert(rule.id, incident.subject)
            if incident.alert is not None:
                log.info("alert firing elsewhere", alert=incident.alert.id)
                return None
    return None
