"""Alerts end to end: a real coordinator and node processes, the real engine, and a webhook
receiver on 127.0.0.1 that records what it gets.

Each firing alert (OOM kill, non-zero exit, restart loop, log-pattern match, node killed
with ``kill -9``, a failing health check) must reach the receiver exactly once, then its
``resolved`` message exactly once. A receiver that answers 500 twice gets the alert on the
third attempt, and one that hangs delays nobody else. The restart count of a container
restarted by its policy is the engine's ``RestartCount``, in its summary and in ``/metrics``.
Durations and backoffs are short through the rules' and channels' own fields (``duration``,
``window``, ``resolve_after``, ``backoff``, ``timeout``).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from docklord.engine import Engine
from docklord.testing import (
    TEST_LABEL,
    TEST_RUN,
    CoordinatorProcess,
    NodeProcess,
    ReceivedHook,
    WebhookReceiver,
    eventually,
    unique_name,
)

from .conftest import api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e


@dataclass
class Alerting:
    coordinator: CoordinatorProcess
    node: NodeProcess
    token: str
    hooks: WebhookReceiver
    work: Path
    docker_host: str

    def client(self) -> httpx.AsyncClient:
        return api(self.coordinator, self.token)

    async def channel(self, path: str, **fields: Any) -> int:
        body = {"name": f"{path.strip('/')}-{secrets.token_hex(3)}", "url": self.hooks.url(path)}
        async with self.client() as client:
            response = await client.post("/api/v1/alerts/channels", json={**body, **fields})
        assert response.status_code == 201, response.text
        assert path not in response.text  # the URL is never echoed
        return int(response.json()["id"])

    async def rule(self, kind: str, channels: list[int], **fields: Any) -> int:
        body = {"name": unique_name(kind), "kind": kind, "channels": channels, **fields}
        async with self.client() as client:
            response = await client.post("/api/v1/alerts/rules", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@pytest.fixture(scope="module")
async def alerting(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, busybox_image: str
) -> AsyncIterator[Alerting]:
    work = tmp_path_factory.mktemp("alerts")
    with started_coordinator(work / "coordinator") as coordinator:
        node = _node(coordinator, work / "node", docker_host)
        try:
            token = coordinator.login()
            async with api(coordinator, token) as client:
                await wait_online(client, node.node_id)
            async with WebhookReceiver() as hooks:
                yield Alerting(coordinator, node, token, hooks, work, docker_host)
        finally:
            node.stop()
            print(f"--- node log ---\n{node.log()[-10000:]}")


def _node(coordinator: CoordinatorProcess, workdir: Path, docker_host: str) -> NodeProcess:
    node = NodeProcess(
        [coordinator.ws_url],
        unique_name("node"),
        secrets.token_urlsafe(16),
        docker_host=docker_host,
        workdir=workdir,
    )
    workdir.mkdir(parents=True)
    node.start()
    return node


@pytest.fixture
def run() -> Iterator[Callable[..., str]]:
    """``docker run -d`` with the test label (and any flags); removed after the test."""
    made: list[str] = []

    def start(name: str, *args: str) -> str:
        made.append(name)
        _docker("run", "-d", "--name", name, "--label", f"{TEST_LABEL}={TEST_RUN}", *args)
        return name

    yield start
    for name in made:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _of(hooks: list[ReceivedHook], name: str) -> list[tuple[str, str]]:
    """(event, kind) of what a receiver got about container or node ``name``."""
    return [
        (h.body["event"], h.body["alert"]["kind"])
        for h in hooks
        if name in (h.body["alert"]["container_name"], h.body["alert"]["node_id"])
    ]


async def test_container_alerts_fire_once_then_resolve_despite_bad_receivers(
    alerting: Alerting, run: Callable[..., str], busybox_image: str
) -> None:
    hooks, prefix = alerting.hooks, unique_name("al")
    # The path stands for the secret part of a webhook URL: it must not show in the log.
    secret = secrets.token_hex(8)
    good_path = f"/good/{secret}"
    good = await alerting.channel(good_path, backoff=0.1)
    flaky = await alerting.channel("/flaky", backoff=0.2, max_attempts=5)
    hanging = await alerting.channel("/hang", timeout=30, max_attempts=1)
    hooks.fail_first("/flaky", 2)
    hooks.hang("/hang")
    everywhere = [hanging, flaky, good]
    await alerting.rule("container_died", everywhere, selector={"name": f"{prefix}-d-*"})
    await alerting.rule(
        "restart_loop", [good], restarts=3, window=60, selector={"name": f"{prefix}-loop"}
    )
    await alerting.rule(
        "log_match",
        [good],
        pattern=r"FATAL: .* on fire",
        resolve_after=2,
        selector={"name": f"{prefix}-log", "labels": {TEST_LABEL: TEST_RUN}},
    )

    started = time.time()
    oom, exit3 = f"{prefix}-d-oom", f"{prefix}-d-exit"
    loop, logger = f"{prefix}-loop", f"{prefix}-log"
    # In threads: a blocking docker CLI call would stall the receiver (this event loop), and
    # the measured delivery latency with it.
    await asyncio.to_thread(
        run, oom, "--memory=8m", "--memory-swap=8m", busybox_image, "sh", "-c",
        "x=a; while true; do x=$x$x; done",
    )  # fmt: skip
    # Exits 3 the first time; started again, it runs (its flag file survives the restart).
    await asyncio.to_thread(
        run, exit3, busybox_image, "sh", "-c", "[ -e /flag ] && exec sleep 600; touch /flag; exit 3"
    )
    await asyncio.to_thread(run, loop, "--restart=always", busybox_image, "sh", "-c", "exit 1")
    await asyncio.to_thread(
        run, logger, busybox_image, "sh", "-c", "echo ok; echo 'FATAL: disk on fire'; sleep 600"
    )

    async def fired() -> bool:
        got = hooks.to(good_path)
        return all(
            ("firing", kind) in _of(got, name)
            for name, kind in (
                (oom, "container_died"),
                (exit3, "container_died"),
                (loop, "restart_loop"),
                (logger, "log_match"),
            )
        )

    await eventually(fired, timeout=30, what="the four container alerts")
    firing_at = time.time()
    [oom_alert] = [h for h in hooks.to(good_path) if h.body["alert"]["container_name"] == oom]
    assert oom_alert.body["alert"]["details"].get("oom") is True, oom_alert.body
    # The flaky receiver got the death alerts after two 500s; the hanging one delayed nobody.
    assert [h.status for h in hooks.to("/flaky")][:3] == [500, 500, 200]
    assert hooks.to("/hang") and all(h.status is None for h in hooks.to("/hang"))
    print(f"all four firing alerts received {firing_at - started:.1f} s after the first run")

    await asyncio.to_thread(_docker, "start", exit3)  # runs again: resolved
    await asyncio.to_thread(_docker, "rm", "-f", oom, loop)  # removed: resolved
    # The logger's incident resolves by itself after 2 s without a matching line.

    async def resolved() -> bool:
        got = hooks.to(good_path)
        return all(("resolved", k) in _of(got, n) for n, k in _KINDS(oom, exit3, loop, logger))

    await eventually(resolved, timeout=20, what="the four resolved messages")
    for name, kind in _KINDS(oom, exit3, loop, logger):
        assert Counter(_of(hooks.to(good_path), name)) == {
            ("firing", kind): 1,
            ("resolved", kind): 1,
        }
    # Three attempts for the first death alert, one for the second (queued behind it).
    flaky_firing = [
        Counter(_of(hooks.to("/flaky"), n))[("firing", "container_died")] for n in (oom, exit3)
    ]
    assert sorted(flaky_firing) == [1, 3]
    latencies = [_latency(h) for h in hooks.to(good_path) if h.body["event"] == "firing"]
    in_ms = sorted(round(x * 1000) for x in latencies)
    print(f"firing delivery latency (fired_at to receipt): {in_ms} ms")
    await _check_listing(alerting, exit3, flaky)
    assert secret not in alerting.coordinator.log()


def _KINDS(oom: str, exit3: str, loop: str, logger: str) -> list[tuple[str, str]]:  # noqa: N802
    return [
        (oom, "container_died"),
        (exit3, "container_died"),
        (loop, "restart_loop"),
        (logger, "log_match"),
    ]


def _latency(hook: ReceivedHook) -> float:
    return hook.at - datetime.fromisoformat(hook.body["alert"]["fired_at"]).timestamp()


async def _check_listing(alerting: Alerting, name: str, flaky: int) -> None:
    async with alerting.client() as client:
        body = (await client.get("/api/v1/alerts", params={"state": "resolved"})).json()
    [alert] = [a for a in body["alerts"] if a["container_name"] == name]
    assert alert["details"]["resolved_reason"] == "the container runs again"
    attempts = [
        (d["attempt"], d["status_code"], d["ok"])
        for d in alert["deliveries"]
        if d["channel_id"] == flaky and d["event"] == "firing"
    ]
    assert attempts in ([(1, 200, True)], [(1, 500, False), (2, 500, False), (3, 200, True)])


async def test_a_node_killed_with_sigkill_fires_offline_once_and_resolves(
    alerting: Alerting, open_events: Callable[..., Any]
) -> None:
    victim = _node(
        alerting.coordinator, alerting.work / unique_name("victim"), alerting.docker_host
    )
    try:
        async with alerting.client() as client:
            await wait_online(client, victim.node_id)
            await eventually(_rtt_of(client, victim.node_id), what="the link RTT in /metrics")
        good = await alerting.channel("/nodes", backoff=0.1)
        await alerting.rule(
            "node_offline", [good], duration=1, selector={"nodes": [victim.node_id]}
        )
        events = await open_events(alerting.coordinator, alerting.token)
        victim.kill()
        await eventually(
            _received(alerting.hooks, "/nodes", victim.node_id, "firing"),
            timeout=20,
            what="the node offline alert",
        )
        try:
            frame = await events.until(lambda m: m.get("kind") == "alert", wait=20)
        except TimeoutError:
            pytest.fail(f"no alert frame on the events stream; got {events.messages}")
        assert (frame["event"], frame["node_id"]) == ("firing", victim.node_id)
        victim.start()
        await eventually(
            _received(alerting.hooks, "/nodes", victim.node_id, "resolved"),
            timeout=20,
            what="the node resolved alert",
        )
        assert Counter(_of(alerting.hooks.to("/nodes"), victim.node_id)) == {
            ("firing", "node_offline"): 1,
            ("resolved", "node_offline"): 1,
        }
    finally:
        victim.stop()


def _received(hooks: WebhookReceiver, path: str, name: str, event: str) -> Callable[[], Any]:
    async def probe() -> bool:
        return any(e == event for e, _ in _of(hooks.to(path), name))

    return probe


def _rtt_of(client: httpx.AsyncClient, node_id: str) -> Callable[[], Any]:
    async def probe() -> bool:
        text = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "docklord_link_rtt_seconds" and sample.labels["node"] == node_id:
                    return 0 <= sample.value < 5
        return False

    return probe


async def test_restart_counts_are_the_engines_and_unhealthy_fires_once_then_resolves(
    alerting: Alerting, run: Callable[..., str], busybox_image: str
) -> None:
    prefix = unique_name("rc")
    looping, sick = f"{prefix}-loop", f"{prefix}-sick"
    good = await alerting.channel("/health", backoff=0.1)
    await alerting.rule("unhealthy", [good], selector={"name": sick})
    await asyncio.to_thread(
        run, looping, "--restart=on-failure:3", busybox_image, "sh", "-c", "exit 1"
    )
    # Unhealthy until the test makes the file its check looks for.
    await asyncio.to_thread(
        run, sick, "--health-cmd", "test -e /tmp/ok", "--health-interval", "300ms",
        "--health-retries", "1", busybox_image, "sleep", "600",
    )  # fmt: skip
    async with Engine(alerting.docker_host) as engine:

        async def given_up() -> bool:
            details = await engine.inspect_container(looping)
            return details.summary.state == "exited" and details.raw.get("RestartCount") == 3

        await eventually(given_up, timeout=30, what="the engine giving up after 3 restarts")
        engine_count = (await engine.inspect_container(looping)).raw["RestartCount"]
    node = alerting.node.node_id
    async with alerting.client() as client:

        async def counted() -> bool:
            listed = await client.get(f"/api/v1/nodes/{node}/containers", params={"q": looping})
            [summary] = listed.json()["containers"]
            return bool(summary["restart_count"] == engine_count and summary["state"] == "exited")

        await eventually(counted, timeout=10, what="the engine's RestartCount in the summary")
        assert _restarts_metric(await client.get("/metrics"), looping) == engine_count

        await eventually(
            _received(alerting.hooks, "/health", sick, "firing"), timeout=20, what="unhealthy"
        )
        made = await client.post(
            f"/api/v1/nodes/{node}/containers/{sick}/exec", json={"cmd": ["touch", "/tmp/ok"]}
        )
        assert made.status_code == 200 and made.json()["exit_code"] == 0, made.text
        await eventually(
            _received(alerting.hooks, "/health", sick, "resolved"), timeout=20, what="healthy"
        )
    assert Counter(_of(alerting.hooks.to("/health"), sick)) == {
        ("firing", "unhealthy"): 1,
        ("resolved", "unhealthy"): 1,
    }
    [resolved] = [h for h in alerting.hooks.to("/health") if h.body["event"] == "resolved"]
    assert resolved.body["alert"]["details"]["resolved_reason"] == "health: health_status: healthy"


def _restarts_metric(response: httpx.Response, name: str) -> float:
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "docklord_container_restarts_total" and sample.labels["name"] == name:
                return sample.value
    raise AssertionError(f"no docklord_container_restarts_total for {name}")
