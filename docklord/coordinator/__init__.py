"""The coordinator: node registry and links, the live fleet cache, and the public server."""

from __future__ import annotations

from docklord.coordinator._alert_delivery import public_url
from docklord.coordinator._alert_payloads import alert_json, delivery_json, test_body
from docklord.coordinator._alert_rules import Kind, check_pattern
from docklord.coordinator._alerts import AlertEvaluator
from docklord.coordinator._audit_feed import audit_json
from docklord.coordinator._budget import SourceBudget
from docklord.coordinator._coordinator import Coordinator
from docklord.coordinator._fleet import Fleet, NodeState, NodeStatus, Subscriber
from docklord.coordinator._history import History, NodeSample
from docklord.coordinator._json import container_json, event_json, iso
from docklord.coordinator._links import LinkManager
from docklord.coordinator._nodeauth import Enrolled, NodeAuthenticator, Registration
from docklord.coordinator._refs import check_uncached_ref, resolve_ref
from docklord.coordinator._telemetry import FleetSeries, Telemetry
from docklord.coordinator._tls import uvicorn_tls

__all__ = [
    "AlertEvaluator",
    "Coordinator",
    "Enrolled",
    "Fleet",
    "FleetSeries",
    "History",
    "Kind",
    "LinkManager",
    "NodeAuthenticator",
    "NodeSample",
    "NodeState",
    "NodeStatus",
    "Registration",
    "SourceBudget",
    "Subscriber",
    "Telemetry",
    "check_uncached_ref",
    "alert_json",
    "audit_json",
    "check_pattern",
    "container_json",
    "delivery_json",
    "event_json",
    "iso",
    "public_url",
    "resolve_ref",
    "test_body",
    "uvicorn_tls",
]
