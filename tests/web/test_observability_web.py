"""History routes, sampled container summaries and /metrics, in process (no engine, no node).

The fleet is filled the way a node link fills it (``apply_snapshot``-like state plus
``apply_stats``); the end-to-end proofs over a real engine are in tests/e2e.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator, NodeState, NodeStatus
from docklord.model import INSTANCE_LABEL, NAME_PREFIX, ContainerSummary, StatsSample
from docklord.protocol import stats_batch_to_proto
from docklord.web import create_app

PASSWORD = "observability-test-pw"  # noqa: S105 - throw-away in-process coordinator
BUSY, IDLE, EXITED = "a" * 64, "b" * 64, "c" * 64


@dataclass
class App:
    coordinator: Coordinator
    client: httpx.AsyncClient
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def summary(cid: str, name: str, state: str = "running") -> ContainerSummary:
    now = time.time()
    return ContainerSummary(
        id=cid,
        name=name,
        image="docklord-test/busybox:latest",
        image_id="sha256:1",
        command="sh",
        state=state,
        status="Up",
        created=now - 60,
        started_at=now - 50,
        finished_at=None,
        exit_code=None,
        ports=(),
        labels={"com.docker.compose.project": "shop"} if cid == BUSY else {},
    )


def sample(read: float, cpu: float, memory: int) -> StatsSample:
    return StatsSample(
        read=read,
        cpu_percent=cpu,
        memory_usage=memory,
        memory_limit=1 << 30,
        cpu_time=12.5,
        memory_total_usage=memory + 4096,
        net_rx=10,
        net_tx=20,
    )


async def start(tmp_path: Path, **config: object) -> AsyncIterator[App]:
    cfg = CoordinatorConfig(
        data_dir=str(tmp_path),
        grpc_port=0,
        admin_password=PASSWORD,
        **config,  # type: ignore[arg-type]
    )
    async with Coordinator(cfg, announce=lambda _: None) as coordinator:
        transport = httpx.ASGITransport(app=create_app(coordinator))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            login = await client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            )
            client.cookies.clear()  # requests authenticate with the token only
            yield App(coordinator, client, login.json()["token"])


def fill(coordinator: Coordinator) -> None:
    fleet = coordinator.fleet
    state = fleet.nodes["n1"] = NodeState("n1", status=NodeStatus.ONLINE, name="edge-1")
    for cid, name, st in (
        (BUSY, "busy", "running"),
        (IDLE, "idle", "running"),
        (EXITED, "old", "exited"),
    ):
        state.containers[cid] = summary(cid, name, st)
    # The engine's RestartCount, as the node's inspect after a death reports it.
    state.containers[EXITED] = dataclasses.replace(state.containers[EXITED], restart_count=4)
    now = time.time()
    for k in range(3):
        t = now - 10 + k * 5
        samples = [(BUSY, sample(t, 90.0 + k, 5_000_000)), (IDLE, sample(t, 0.5, 9_000_000))]
        fleet.apply_stats("n1", stats_batch_to_proto(t, 5.0, samples))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async for started in start(tmp_path):
        fill(started.coordinator)
        yield started


async def test_container_history_answers_from_the_ring_with_since(app: App) -> None:
    path = "/api/v1/nodes/n1/containers/busy/stats/history"
    body = (await app.client.get(path, headers=app.headers())).json()
    assert body["interval"] == 5.0
    assert [round(s["cpu_percent"]) for s in body["samples"]] == [90, 91, 92]
    first = body["samples"][0]
    assert first["memory_usage"] == 5_000_000 and first["memory_total_usage"] == 5_004_096
    assert first["read"].endswith("Z")
    recent = await app.client.get(path, params={"since": "3s"}, headers=app.headers())
    assert [round(s["cpu_percent"]) for s in recent.json()["samples"]] == [92]


async def test_node_history_sums_cpu_and_memory(app: App) -> None:
    response = await app.client.get("/api/v1/nodes/n1/stats/history", headers=app.headers())
    rows = response.json()["samples"]
    assert len(rows) == 3
    assert rows[-1]["cpu_percent"] == pytest.approx(92.5)
    assert rows[-1]["memory_usage"] == 14_000_000
    assert (rows[-1]["containers_running"], rows[-1]["containers_sampled"]) == (2, 2)


async def test_history_bad_input_and_unknown_refs_are_4xx(app: App) -> None:
    base = "/api/v1/nodes/n1"
    bad = await app.client.get(
        f"{base}/containers/busy/stats/history", params={"since": "soon"}, headers=app.headers()
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    missing = await app.client.get(f"{base}/containers/nope/stats/history", headers=app.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    node = await app.client.get("/api/v1/nodes/zz/stats/history", headers=app.headers())
    assert node.status_code == 404
    anonymous = await app.client.get(f"{base}/stats/history")
    assert anonymous.status_code == 401


async def test_summaries_carry_current_cpu_and_memory_and_sort_by_them(app: App) -> None:
    by_cpu = (
        await app.client.get(
            "/api/v1/containers", params={"sort": "cpu_percent"}, headers=app.headers()
        )
    ).json()["containers"]
    assert [c["name"] for c in by_cpu] == ["busy", "idle", "old"]
    assert by_cpu[0]["cpu_percent"] == pytest.approx(92.0) and "cpu_percent" not in by_cpu[2]
    assert [c["restart_count"] for c in by_cpu] == [0, 0, 4]
    by_memory = (
        await app.client.get(
            "/api/v1/containers", params={"sort": "memory_usage"}, headers=app.headers()
        )
    ).json()["containers"]
    assert [c["name"] for c in by_memory] == ["idle", "busy", "old"]
    assert by_memory[0]["memory_usage"] == 9_000_000
    bad = await app.client.get(
        "/api/v1/containers", params={"sort": "bogus"}, headers=app.headers()
    )
    assert bad.status_code == 422


async def test_metrics_need_a_viewer_token_and_show_cadvisor_series(app: App) -> None:
    assert (await app.client.get("/metrics")).status_code == 401
    bad = await app.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    text = (await app.client.get("/metrics", headers=app.headers())).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [cpu] = [
        s for s in families["container_cpu_usage_seconds"].samples if s.labels["name"] == "busy"
    ]
    assert cpu.value == 12.5
    assert cpu.labels == {
        "node": "n1",
        "node_name": "edge-1",
        "id": BUSY,
        "name": "busy",
        "image": "docklord-test/busybox:latest",
        "compose_project": "shop",
        "compose_service": "",
    }
    values = {
        name: {s.labels["name"]: s.value for s in families[name].samples}
        for name in (
            "container_memory_usage_bytes",
            "container_memory_working_set_bytes",
            "docklord_container_cpu_percent",
            "container_network_receive_bytes",
        )
    }
    assert values["container_memory_usage_bytes"] == {"busy": 5_004_096, "idle": 9_004_096}
    assert values["container_memory_working_set_bytes"]["busy"] == 5_000_000
    assert values["docklord_container_cpu_percent"]["busy"] == pytest.approx(92.0)
    assert values["container_network_receive_bytes"]["idle"] == 10
    states = {
        (s.labels["name"], s.labels["state"]) for s in families["docklord_container_state"].samples
    }
    assert ("old", "exited") in states
    restarts = {s.labels["name"]: s.value for s in families["docklord_container_restarts"].samples}
    assert restarts == {"busy": 0, "idle": 0, "old": 4}
    for name in (
        "container_spec_memory_limit_bytes",
        "container_fs_reads_bytes",
        "container_fs_writes_bytes",
        "container_network_transmit_bytes",
        "container_last_seen",
        "container_start_time_seconds",
        "docklord_container_restarts",
        "docklord_nodes",
        "docklord_node_request_duration_seconds",
        "docklord_event_lag_seconds",
        "docklord_events",
        "docklord_pending_requests",
        "docklord_websocket_clients",
        "docklord_subscriber_overflows",
    ):
        assert name in families, name


async def test_metrics_public_opens_them(tmp_path: Path) -> None:
    async for started in start(tmp_path, metrics_public=True):
        fill(started.coordinator)
        response = await started.client.get("/metrics")
        assert response.status_code == 200
        assert "container_cpu_usage_seconds_total{" in response.text


async def test_instances_stay_out_of_metrics_and_history_for_non_admins(app: App) -> None:
    box = "d" * 64
    state = app.coordinator.fleet.nodes["n1"]
    state.containers[box] = dataclasses.replace(
        summary(box, f"{NAME_PREFIX}7"), labels={INSTANCE_LABEL: "7"}
    )
    now = time.time()
    app.coordinator.fleet.apply_stats(
        "n1", stats_batch_to_proto(now, 5.0, [(box, sample(now, 40.0, 1_000_000))])
    )
    made = await app.client.post(
        "/api/v1/users",
        json={"username": "watcher", "password": "watcher-password", "role": "viewer"},
        headers=app.headers(),
    )
    assert made.status_code == 201, made.text
    login = await app.client.post(
        "/api/v1/auth/login", json={"username": "watcher", "password": "watcher-password"}
    )
    app.client.cookies.clear()
    viewer = {"Authorization": f"Bearer {login.json()['token']}"}
    history = f"/api/v1/nodes/n1/containers/{NAME_PREFIX}7/stats/history"

    def names(text: str) -> set[str]:
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return {s.labels["name"] for s in families["docklord_container_state"].samples}

    seen = names((await app.client.get("/metrics", headers=viewer)).text)
    assert "busy" in seen and f"{NAME_PREFIX}7" not in seen
    assert (await app.client.get(history, headers=viewer)).status_code == 404
    assert f"{NAME_PREFIX}7" in names(
        (await app.client.get("/metrics", headers=app.headers())).text
    )
    admin_view = await app.client.get(history, headers=app.headers())
    assert [round(s["cpu_percent"]) for s in admin_view.json()["samples"]] == [40]
