"""The alert kinds tests/coordinator/test_alerts.py does not cover, in process: ``unhealthy``,
``memory_high`` and ``engine_unavailable``. Each fires exactly once per incident and sends
its ``resolved`` message when the condition clears.

The engine outage is reported by a real :class:`NodeAgent` (watcher, link) whose engine is a
:class:`ScriptedEngine` that goes down and comes back, linked to an :class:`InProcessFleet`;
the other kinds feed the fleet cache directly, as a node link does. A real-engine check of
``unhealthy`` (a failing health check) is in tests/e2e/test_alerts.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from docklord.config import NodeConfig
from docklord.model import StatsSample
from docklord.node import NodeAgent
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import stats_batch_to_proto
from docklord.testing import InProcessFleet, ScriptedEngine, WebhookReceiver, eventually

from ._alerting import CID, App, alerting_app, container_event, until


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with alerting_app(tmp_path) as made:
        yield made


def _events(app: App, path: str) -> list[tuple[str, str]]:
    got = app.hooks.to(path)
    return [(h.body["event"], h.body["alert"]["details"].get("resolved_reason", "")) for h in got]


async def test_unhealthy_fires_once_per_incident_and_resolves_when_healthy(app: App) -> None:
    channel = await app.channel("/health")
    await app.rule("unhealthy", [channel], selector={"name": "web-*"})
    evaluator = app.coordinator.alerts
    container_event(app, "health_status", "running", action_detail="health_status: starting")
    assert not evaluator.open
    for _ in range(3):  # the engine reports each failing check: one incident
        container_event(app, "health_status", "running", action_detail="health_status: unhealthy")
    assert len(evaluator.open) == 1
    container_event(app, "health_status", "running", action_detail="health_status: healthy")
    assert not evaluator.open
    container_event(app, "health_status", "running", action_detail="health_status: unhealthy")
    container_event(app, "die", "exited", exitCode="0")  # a stopped container is no longer ill
    await until(lambda: len(app.hooks.to("/health")) == 4)
    assert _events(app, "/health") == [
        ("firing", ""),
        ("resolved", "health: health_status: healthy"),
        ("firing", ""),
        ("resolved", "health: die"),
    ]
    assert {h.body["alert"]["kind"] for h in app.hooks.to("/health")} == {"unhealthy"}
    assert app.hooks.to("/health")[0].body["alert"]["container_id"] == CID


def _memory(at: float, used: int, limit: int = 1000) -> pb.StatsBatch:
    sample = StatsSample(read=at, cpu_percent=1.0, memory_usage=used, memory_limit=limit)
    return stats_batch_to_proto(at, 1.0, [(CID, sample)])


async def test_memory_above_a_threshold_for_a_duration_fires_once_and_resolves(
    app: App,
) -> None:
    percent = await app.channel("/memory")
    in_bytes = await app.channel("/bytes")
    await app.rule("memory_high", [percent], threshold=80, duration=2)
    await app.rule("memory_high", [in_bytes], threshold_bytes=500, duration=0)
    evaluator, fleet = app.coordinator.alerts, app.coordinator.fleet
    now = time.time()
    fleet.apply_stats("n1", _memory(now, 900))  # 90 %, and above 500 B: fires at once
    fleet.apply_stats("n1", _memory(now + 1, 700))  # 70 %: the 80 % clock restarts
    fleet.apply_stats("n1", _memory(now + 2, 850))
    fleet.apply_stats("n1", _memory(now + 3, 850))
    assert [i.rule.params.get("threshold_bytes") for i in evaluator.open.values()] == [500]
    fleet.apply_stats("n1", _memory(now + 4, 950))  # above 80 % for 2 s
    fleet.apply_stats("n1", _memory(now + 5, 990))  # the same incident
    by_percent = [i for i in evaluator.open.values() if "threshold" in i.rule.params]
    assert [i.details for i in by_percent] == [{"value": 95.0, "threshold": 80.0}]
    fleet.apply_stats("n1", _memory(now + 6, 100))  # 10 % and 100 B: both clear
    assert not evaluator.open
    await until(lambda: len(app.hooks.to("/memory")) == 2 and len(app.hooks.to("/bytes")) == 2)
    assert _events(app, "/memory") == [("firing", ""), ("resolved", "memory back at 10%")]
    assert _events(app, "/bytes") == [("firing", ""), ("resolved", "memory back at 100 B")]
    [firing] = [h for h in app.hooks.to("/bytes") if h.body["event"] == "firing"]
    assert firing.body["alert"]["details"] == {"value": 900.0, "threshold": 500.0}


async def test_an_engine_gone_from_a_node_fires_after_its_duration_and_resolves(
    tmp_path: Path,
) -> None:
    async with InProcessFleet(nodes=0) as fleet, WebhookReceiver() as hooks:
        engine = ScriptedEngine()
        engine.add("still-known")
        config = NodeConfig(
            coordinator=("ws://in-process",),
            node_id="engine-node",
            password="engine-node-secret-".ljust(43, "e"),
            state_dir=str(tmp_path),
            stats_interval=0,
        )
        agent = NodeAgent(config, engine=engine, connect=fleet.connector())
        run = asyncio.create_task(agent.run())
        try:
            await fleet.wait_online("engine-node")
            await _engine_alert_cycle(fleet, engine, hooks)
        finally:
            agent.shutdown(grace=1)
            await asyncio.wait_for(run, 5)


async def _engine_alert_cycle(
    fleet: InProcessFleet, engine: ScriptedEngine, hooks: WebhookReceiver
) -> None:
    http = fleet.http
    made = await http.post(
        "/api/v1/alerts/channels", json={"name": "ops", "url": hooks.url("/ops"), "backoff": 0.05}
    )
    assert made.status_code == 201, made.text
    rule = {
        "name": "engine gone",
        "kind": "engine_unavailable",
        "channels": [made.json()["id"]],
        "duration": 1,
        "selector": {"nodes": ["engine-*"]},
    }
    assert (await http.post("/api/v1/alerts/rules", json=rule)).status_code == 201
    went_down = time.time()
    engine.go_down()
    await eventually(lambda: _got(hooks, "firing"), timeout=10, what="the engine alert")
    [firing] = hooks.to("/ops")
    alert = firing.body["alert"]
    assert (alert["kind"], alert["node_id"], alert["subject"]) == (
        "engine_unavailable",
        "engine-node",
        "engine-node",
    )
    # It waited for the rule's duration after the node said its engine was gone.
    assert alert["details"]["since"] >= went_down - 0.5
    fired_at = datetime.fromisoformat(alert["fired_at"]).timestamp()
    assert fired_at - alert["details"]["since"] >= 1
    node = (await http.get("/api/v1/nodes/engine-node")).json()
    assert node["status"] == "online" and node["engine"]["available"] is False
    engine.come_back()
    await eventually(lambda: _got(hooks, "resolved"), timeout=10, what="the resolved message")
    events = [(h.body["event"], h.body["alert"]["id"]) for h in hooks.to("/ops")]
    assert events == [("firing", alert["id"]), ("resolved", alert["id"])]
    resolved = hooks.to("/ops")[1].body["alert"]
    assert resolved["details"]["resolved_reason"] == "engine available again"


async def _got(hooks: WebhookReceiver, event: str) -> bool:
    return any(h.body["event"] == event for h in hooks.to("/ops"))
