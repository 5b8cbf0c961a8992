"""Alerts in process: the API's validation and secrecy, and the evaluator's logic.

A real coordinator (SQLite, no listeners, no node) behind httpx's ASGI transport; the fleet
is fed the way node links feed it (``apply_events``, ``apply_stats``, status changes), and
webhooks go to a real receiver on 127.0.0.1. The end-to-end proofs with real processes and a
real engine are in tests/e2e/test_alerts.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from docklord.coordinator import check_pattern
from docklord.coordinator._alert_logs import LineCutter, follow_from
from docklord.coordinator._alert_rules import MAX_LINE
from docklord.errors import InvalidInput
from docklord.model import StatsSample
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import stats_batch_to_proto
from docklord.testing import eventually

from ..web._asgi import AsgiWebSocket
from ._alerting import CID, SECRET_PATH, App, alerting_app, container_event, summary_of, until


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with alerting_app(tmp_path) as made:
        yield made


# ---- the API --------------------------------------------------------------------------------


async def test_alert_routes_are_for_admins_only(app: App) -> None:
    store = app.coordinator.store
    viewer = await store.create_user("vera", "viewer-password-1", "viewer")
    _, token = await store.create_token(viewer.id, "v")
    for method, path in (
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/alerts/rules"),
        ("POST", "/api/v1/alerts/rules"),
        ("GET", "/api/v1/alerts/channels"),
        ("POST", "/api/v1/alerts/channels"),
        ("DELETE", "/api/v1/alerts/channels/1"),
        ("POST", "/api/v1/alerts/channels/1/test"),
    ):
        anonymous = await app.client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
        denied = await app.client.request(
            method, path, json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert denied.status_code == 403, (method, path)
        assert denied.json()["error"]["code"] == "forbidden"


BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"kind": "sometimes"}, "kind"),
    ({"kind": "log_match", "pattern": "(a+)+$"}, "pattern"),
    ({"kind": "log_match", "pattern": "x" * 257}, "pattern"),
    ({"kind": "log_match", "pattern": "(unclosed"}, "pattern"),
    ({"kind": "restart_loop", "restarts": 0}, "restarts"),
    ({"kind": "cpu_high", "duration": -1}, "duration"),
    ({"kind": "node_offline", "selector": {"nodes": ["x"] * 101}}, "selector.nodes"),
    ({"kind": "node_offline", "colour": "red"}, "colour"),
    ({"kind": "unhealthy", "selector": {"name": "web\x00"}}, "selector.name"),
    ({"kind": "unhealthy", "selector": {"labels": {"a": "b\n"}}}, "selector.labels.a"),
]


async def test_bad_rules_are_422_naming_the_field(app: App) -> None:
    for body, field in BAD_RULES:
        response = await app.post("/rules", {"name": "bad", **body})
        assert response.status_code == 422, response.text
        assert field in [f["field"] for f in response.json()["error"]["fields"]], body
    assert (await app.client.get("/api/v1/alerts/rules", headers=app.admin)).json() == {"rules": []}


async def test_rule_parameters_must_fit_the_kind_and_channels_exist(app: App) -> None:
    wrong = await app.post("/rules", {"name": "x", "kind": "node_offline", "pattern": "a"})
    assert wrong.status_code == 422 and "pattern" in wrong.text
    missing = await app.post("/rules", {"name": "x", "kind": "node_offline", "channels": [99]})
    assert missing.status_code == 422 and "99" in missing.json()["error"]["message"]
    rule = await app.rule("node_offline", [], duration=5)
    patch = await app.client.patch(
        f"/api/v1/alerts/rules/{rule}", json={"restarts": 3}, headers=app.admin
    )
    assert patch.status_code == 422 and "restarts" in patch.text
    ok = await app.client.patch(
        f"/api/v1/alerts/rules/{rule}", json={"duration": 9, "enabled": False}, headers=app.admin
    )
    assert ok.status_code == 200 and (ok.json()["duration"], ok.json()["enabled"]) == (9, False)


async def test_a_channel_url_is_never_shown_after_creation(app: App) -> None:
    for url in ("ftp://h/x", "http://", "not a url", "http://h:99999/x"):
        bad = await app.post("/channels", {"name": "b", "url": url})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "url"
        assert url not in bad.text or url == "http://"
    created = await app.post("/channels", {"name": "slack", "type": "slack", "url": _hook(app)})
    assert created.status_code == 201
    channel = created.json()
    assert channel["receiver"] == f"http://127.0.0.1:{app.hooks.port}"
    await app.rule("container_died", [channel["id"]])
    texts = [created.text]
    for path in ("/api/v1/alerts/channels", f"/api/v1/alerts/channels/{channel['id']}"):
        texts.append((await app.client.get(path, headers=app.admin)).text)
    texts.append((await app.client.get("/api/v1/audit", headers=app.admin)).text)
    assert all("s3cr3t" not in text for text in texts)
    audit = (await app.client.get("/api/v1/audit", headers=app.admin)).json()["entries"]
    assert {"alert_channel.create", "alert_rule.create"} <= {e["action"] for e in audit}


async def test_a_test_send_tries_a_channel_once_and_says_how_it_went(app: App) -> None:
    good = await app.channel("/good")
    bad = await app.channel("/bad", max_attempts=5)
    app.hooks.fail_first("/bad", 1)
    sent = await app.client.post(f"/api/v1/alerts/channels/{good}/test", headers=app.admin)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"ok": True, "status_code": 200, "error": None}
    [hook] = app.hooks.to("/good")
    assert hook.body["event"] == "test" and hook.body["alert"] is None
    failed = await app.client.post(f"/api/v1/alerts/channels/{bad}/test", headers=app.admin)
    assert failed.json() == {"ok": False, "status_code": 500, "error": None}
    assert len(app.hooks.to("/bad")) == 1  # one attempt, no retry
    missing = await app.client.post("/api/v1/alerts/channels/999/test", headers=app.admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    audit = (await app.client.get("/api/v1/audit", headers=app.admin)).json()["entries"]
    tests = [(e["target"], e["result"]) for e in audit if e["action"] == "alert_channel.test"]
    assert tests == [("999", "error: not_found"), ("bad", "ok"), ("good", "ok")]
    assert await app.alerts() == []  # a test send is no alert


def _hook(app: App) -> str:
    return app.hooks.url(SECRET_PATH)


# ---- the evaluator --------------------------------------------------------------------------


async def test_a_death_fires_once_and_resolves_when_the_container_runs_again(app: App) -> None:
    channel = await app.channel("/died")
    slack = await app.channel("/slack", type="slack")
    await app.rule("container_died", [channel, slack], selector={"name": "web-*"})
    container_event(app, "oom", "running")
    container_event(app, "die", "exited", exitCode="137")
    container_event(app, "die", "exited", exitCode="137")  # the same incident: no second alert
    await until(lambda: len(app.hooks.to("/died")) == 1 and app.hooks.to("/slack"))
    container_event(app, "start", "running")
    await until(lambda: len(app.hooks.to("/died")) == 2)
    container_event(app, "die", "exited", exitCode="1")  # a new incident
    await until(lambda: len(app.hooks.to("/died")) == 3)
    events = [(h.body["event"], h.body["alert"]["details"]) for h in app.hooks.to("/died")]
    assert events[0] == ("firing", {"oom": True})
    assert events[1][0] == "resolved" and events[2] == ("firing", {"exit_code": 1})
    assert app.hooks.to("/slack")[0].body["text"].startswith(":rotating_light: FIRING")
    [newest, first] = await app.alerts()
    assert (newest["state"], first["state"]) == ("firing", "resolved")
    assert [d["ok"] for d in first["deliveries"]] == [True, True, True, True]


async def test_exit_code_zero_and_unselected_containers_do_not_fire(app: App) -> None:
    channel = await app.channel("/quiet")
    await app.rule("container_died", [channel], selector={"name": "db-*"})
    await app.rule("container_died", [channel], selector={"labels": {"t": "2"}})
    other = await app.rule("container_died", [channel], selector={"nodes": ["n1"]})
    container_event(app, "die", "exited", exitCode="0")
    container_event(app, "die", "exited", exitCode="2")
    await until(lambda: app.hooks.to("/quiet"))
    [hook] = app.hooks.to("/quiet")
    assert hook.body["alert"]["rule_id"] == other


async def test_a_restart_loop_needs_n_restarts_within_the_window(app: App) -> None:
    channel = await app.channel("/loop")
    await app.rule("restart_loop", [channel], restarts=3, window=10)
    evaluator = app.coordinator.alerts
    for at in (100.0, 108.0, 116.0):  # 3 restarts, but never 3 within 10 s
        container_event(app, "start", "running", at=at)
    assert not evaluator.open
    container_event(app, "start", "running", at=117.0)
    container_event(app, "start", "running", at=118.0)  # 116, 117, 118: three within 10 s
    assert [i.details for i in evaluator.open.values()] == [{"restarts": 3}]
    container_event(app, "start", "running", started=None, at=119.0)  # a first start is no restart
    evaluator.age(118.0 + 9)
    assert evaluator.open
    evaluator.age(118.0 + 10)
    assert not evaluator.open
    await until(lambda: [h.body["event"] for h in app.hooks.to("/loop")] == ["firing", "resolved"])


def _batch(at: float, cpu: float) -> pb.StatsBatch:
    sample = StatsSample(read=at, cpu_percent=cpu, memory_usage=10, memory_limit=100)
    return stats_batch_to_proto(at, 1.0, [(CID, sample)])


async def test_a_threshold_must_hold_for_its_duration(app: App) -> None:
    channel = await app.channel("/cpu")
    await app.rule("cpu_high", [channel], threshold=50, duration=2)
    evaluator, fleet = app.coordinator.alerts, app.coordinator.fleet
    now = time.time()
    fleet.apply_stats("n1", _batch(now, 80))
    fleet.apply_stats("n1", _batch(now + 1, 20))  # below: the clock restarts
    fleet.apply_stats("n1", _batch(now + 2, 80))
    fleet.apply_stats("n1", _batch(now + 3, 80))
    assert not evaluator.open
    fleet.apply_stats("n1", _batch(now + 4, 90))
    [incident] = evaluator.open.values()
    assert incident.details == {"value": 90.0, "threshold": 50.0}
    fleet.apply_stats("n1", _batch(now + 5, 95))  # still the same incident
    fleet.apply_stats("n1", _batch(now + 6, 10))
    assert not evaluator.open
    await until(lambda: len(app.hooks.to("/cpu")) == 2)
    got = [(h.body["event"], h.body["alert"]["details"]) for h in app.hooks.to("/cpu")]
    assert got == [
        ("firing", {"value": 90.0, "threshold": 50.0}),
        ("resolved", {"value": 90.0, "threshold": 50.0, "resolved_reason": "cpu back at 10%"}),
    ]


async def test_node_offline_fires_after_its_duration_and_resolves_online(app: App) -> None:
    channel = await app.channel("/node")
    await app.rule("node_offline", [channel], duration=5, selector={"nodes": ["n*"]})
    evaluator = app.coordinator.alerts
    evaluator.on_status("n1", {"kind": "node", "node_id": "n1", "status": "offline"})
    since = evaluator._pending.offline["n1"]
    evaluator.age(since + 4)
    assert not evaluator.open
    evaluator.age(since + 5)
    evaluator.age(since + 6)
    assert [key[1] for key in evaluator.open] == ["n1"]
    evaluator.on_status("n1", {"kind": "node", "node_id": "n1", "status": "online"})
    assert not evaluator.open
    await until(lambda: len(app.hooks.to("/node")) == 2)
    assert app.hooks.to("/node")[1].body["alert"]["details"]["resolved_reason"] == "node online"


async def test_retries_until_a_receiver_recovers_and_a_hanging_one_delays_no_other(
    app: App,
) -> None:
    flaky = await app.channel("/flaky", backoff=0.05)
    hanging = await app.channel("/hang", timeout=30, max_attempts=1)
    fine = await app.channel("/fine")
    app.hooks.fail_first("/flaky", 2)
    app.hooks.hang("/hang")
    await app.rule("container_died", [hanging, flaky, fine])
    started = time.monotonic()
    container_event(app, "die", "exited", exitCode="3")
    await until(lambda: app.hooks.to("/fine") and len(app.hooks.to("/flaky")) == 3)
    assert time.monotonic() - started < 10  # far less than the hanging channel's 30 s
    assert [h.status for h in app.hooks.to("/flaky")] == [500, 500, 200]

    async def flaky_attempts() -> dict[tuple[int, int], int]:
        # The receiver answers before the coordinator records the attempt: wait for the record.
        [alert] = await app.alerts()
        by_channel = {
            (d["channel_id"], d["attempt"]): d["status_code"] for d in alert["deliveries"]
        }
        flaky_only = {k: v for k, v in by_channel.items() if k[0] == flaky}
        return flaky_only if len(flaky_only) == 3 else {}

    assert await eventually(flaky_attempts, what="three attempts recorded") == {
        (flaky, 1): 500,
        (flaky, 2): 500,
        (flaky, 3): 200,
    }


async def test_a_deleted_rule_resolves_its_incidents(app: App) -> None:
    channel = await app.channel("/gone")
    rule = await app.rule("container_died", [channel])
    container_event(app, "die", "exited", exitCode="3")
    assert app.coordinator.alerts.open
    deleted = await app.client.delete(f"/api/v1/alerts/rules/{rule}", headers=app.admin)
    assert deleted.status_code == 204 and not app.coordinator.alerts.open
    await until(lambda: len(app.hooks.to("/gone")) == 2)
    [alert] = await app.alerts(state="resolved")
    assert alert["rule_id"] is None and alert["rule"].startswith("container_died")


async def test_the_events_stream_shows_alerts_to_admins_only(app: App) -> None:
    store = app.coordinator.store
    viewer = await store.create_user("vic", "viewer-password-1", "viewer")
    _, viewer_token = await store.create_token(viewer.id, "v")
    admin_token = app.admin["Authorization"].split()[1]
    asgi = app.client._transport.app  # type: ignore[attr-defined]
    await app.rule("container_died", [])
    async with (
        AsgiWebSocket(asgi, "/api/v1/events/ws", token=admin_token) as admin_ws,
        AsgiWebSocket(asgi, "/api/v1/events/ws", token=viewer_token) as viewer_ws,
    ):
        assert (await admin_ws.receive_json())["kind"] == "snapshot"
        assert (await viewer_ws.receive_json())["kind"] == "snapshot"
        container_event(app, "die", "exited", exitCode="5")
        frames = [await admin_ws.receive_json() for _ in range(2)]
        [alert] = [f for f in frames if f["kind"] == "alert"]
        assert (alert["event"], alert["alert_kind"]) == ("firing", "container_died")
        assert alert["details"] == {"exit_code": 5}
        # The viewer sees the container event, never the alert.
        assert (await viewer_ws.receive_json())["kind"] == "event"
        container_event(app, "start", "running")
        seen = [(await viewer_ws.receive_json())["kind"] for _ in range(1)]
        assert seen == ["event"]
        assert [f["kind"] for f in [await admin_ws.receive_json() for _ in range(2)]] == [
            "event",
            "alert",
        ]
        assert viewer_ws.from_app.empty()


async def test_each_delivery_attempt_streams_to_admins_after_its_alert(app: App) -> None:
    channel = await app.channel("/seen", max_attempts=2)
    app.hooks.fail_first("/seen", 1)
    await app.rule("container_died", [channel])
    viewer = await app.coordinator.store.create_user("val", "viewer-password-1", "viewer")
    _, viewer_token = await app.coordinator.store.create_token(viewer.id, "v")
    admin_token = app.admin["Authorization"].split()[1]
    asgi = app.client._transport.app  # type: ignore[attr-defined]
    async with (
        AsgiWebSocket(asgi, "/api/v1/events/ws", token=admin_token) as ws,
        AsgiWebSocket(asgi, "/api/v1/events/ws", token=viewer_token) as viewer_ws,
    ):
        assert (await ws.receive_json())["kind"] == "snapshot"
        assert (await viewer_ws.receive_json())["kind"] == "snapshot"
        container_event(app, "die", "exited", exitCode="4")
        frames = [await ws.receive_json() for _ in range(4)]
        # The viewer sees the death, then (after the deliveries) the restart: no alert frame.
        container_event(app, "start", "running")
        assert [(await viewer_ws.receive_json())["action"] for _ in range(2)] == ["die", "start"]
    assert [f["kind"] for f in frames] == ["event", "alert", "alert_delivery", "alert_delivery"]
    alert, first, second = frames[1:]
    assert (first["alert_id"], first["channel_id"], first["attempt"]) == (alert["id"], channel, 1)
    assert (first["ok"], first["status_code"]) == (False, 500)
    assert (second["ok"], second["status_code"], second["attempt"]) == (True, 200, 2)
    [listed] = await app.alerts()
    fired = [d for d in listed["deliveries"] if d["event"] == "firing"]
    framed = [{"kind": "alert_delivery", "alert_id": alert["id"], **d} for d in fired]
    assert framed == [first, second]


def test_log_lines_are_cut_and_catastrophic_patterns_refused() -> None:
    cutter = LineCutter()
    assert cutter.feed(b"one\ntw") == ["one"]
    assert cutter.feed(b"o\n") == ["two"]
    long = cutter.feed(b"x" * (MAX_LINE + 10))
    assert long == ["x" * MAX_LINE]
    assert cutter.feed(b"yyy\nnext\n") == ["next"]  # the rest of the long line is dropped
    for bad in ("(a+)+", "(x*)*y", "(.+){2,}", "((ab)+)+", "", "x" * 257, "[unclosed"):
        with pytest.raises(InvalidInput):
            check_pattern(bad)
    for good in (r"FATAL: .* on fire", r"(error|fatal)\b", r"a+b*", r"\(a+\)+"):
        assert check_pattern(good).pattern == good


def test_a_started_container_is_followed_from_before_its_start_event() -> None:
    started = dataclasses.replace(summary_of("running"), started_at=100.0)
    assert follow_from(started) == 98.0
    after_a_run = dataclasses.replace(started, finished_at=99.5)
    assert follow_from(after_a_run) == pytest.approx(99.5 + 1e-6)
    assert follow_from(summary_of("created")) == "now"
