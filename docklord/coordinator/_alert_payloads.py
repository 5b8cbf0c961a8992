"""What an alert looks like: in the API, on the events stream, and in webhook bodies.

Generic webhooks get ``{"version": 1, "event": "firing"|"resolved", "alert": {...}}`` (the
alert as ``GET /api/v1/alerts`` shows it, without delivery attempts); Slack-compatible
channels get ``{"text": "..."}``, which Slack, Mattermost, Rocket.Chat and others accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docklord.coordinator._alert_delivery import Message
from docklord.store import Alert, AlertDelivery

__all__ = ["alert_json", "delivery_frame", "delivery_json", "render", "test_body"]


def alert_json(alert: Alert) -> dict[str, Any]:
    """One alert as the API, the events stream and webhooks show it."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule": alert.rule_name,
        "kind": alert.kind,
        "state": alert.state,
        "subject": alert.subject,
        "node_id": alert.node_id,
        "container_id": alert.container_id,
        "container_name": alert.container_name,
        "summary": alert.summary,
        "details": dict(alert.details),
        "fired_at": alert.fired_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def delivery_json(d: AlertDelivery) -> dict[str, Any]:
    """One delivery attempt, as ``GET /api/v1/alerts`` lists it under the alert."""
    return {
        "channel_id": d.channel_id,
        "event": d.event,
        "attempt": d.attempt,
        "time": d.time.isoformat(),
        "ok": d.ok,
        "status_code": d.status_code,
        "error": d.error,
    }


def delivery_frame(alert: Alert, d: AlertDelivery) -> dict[str, Any]:
    """The events stream's ``alert_delivery`` message: one attempt was just recorded."""
    return {"kind": "alert_delivery", "alert_id": alert.id, **delivery_json(d)}


def render(message: Message, channel_type: str) -> Mapping[str, Any]:
    """The JSON body of ``message`` for a channel of ``channel_type``."""
    if channel_type == "slack":
        mark = (
            ":rotating_light: FIRING"
            if message.event == "firing"
            else ":white_check_mark: RESOLVED"
        )
        alert = message.alert
        return {"text": f"{mark} [{alert.rule_name}] {alert.summary}"}
    return {"version": 1, "event": message.event, "alert": message.body}


def test_body(channel_name: str, channel_type: str) -> Mapping[str, Any]:
    """The JSON body of a test send to a channel (``POST .../channels/{id}/test``)."""
    text = f"Docklord test message for alert channel {channel_name!r}"
    if channel_type == "slack":
        return {"text": f":bell: TEST {text}"}
    return {"version": 1, "event": "test", "alert": None, "text": text}
