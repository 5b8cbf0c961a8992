"""Stats sampling, history and /metrics end to end: a real node samples a real engine, a real
Prometheus (Debian's ``prometheus``) scrapes the coordinator with a bearer token.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from docklord.testing import CoordinatorProcess, NodeProcess, eventually, free_port, unique_name

from .conftest import api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "docklord.json"


@dataclass
class Observed:
    coordinator: CoordinatorProcess
    node: NodeProcess
    token: str
    prometheus: str

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def client(self) -> httpx.AsyncClient:
        return api(self.coordinator, self.token)

    async def promql(self, query: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.prometheus}/api/v1/query", params={"query": query})
        assert response.status_code == 200, (query, response.status_code, response.text)
        body = response.json()
        assert body["status"] == "success", (query, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@asynccontextmanager
async def start_prometheus(work: Path, target: str, token: str) -> AsyncIterator[str]:
    """Debian's Prometheus on 127.0.0.1, scraping ``target`` every second with ``token``.

    Yields once Prometheus says it is ready: between opening its port and finishing start-up
    (the TSDB, the rule manager) it answers every query ``503 Service Unavailable``.
    """
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is missing: apt-get install -y prometheus"
    work.mkdir(parents=True)
    (work / "token").write_text(token)
    (work / "token").chmod(0o600)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "docklord",
                "authorization": {"type": "Bearer", "credentials_file": str(work / "token")},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    # JSON is YAML: no YAML library needed to write the configuration.
    (work / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    with open(work / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - the system's Prometheus, fixed arguments
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: _ready(url, proc), timeout=60, what="Prometheus to be ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"--- prometheus log ---\n{(work / 'prometheus.log').read_text()[-5000:]}")


@pytest.fixture(scope="module")
async def observed(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, busybox_image: str
) -> AsyncIterator[Observed]:
    """A coordinator, a node sampling every second, and a Prometheus scraping the coordinator."""
    work = tmp_path_factory.mktemp("observability")
    with started_coordinator(work / "coordinator") as coordinator:
        node = NodeProcess(
            [coordinator.ws_url],
            unique_name("node"),
            secrets.token_urlsafe(16),
            docker_host=docker_host,
            workdir=work / "node",
            extra_args=["--stats-interval=1"],
        )
        node.workdir.mkdir(parents=True)
        node.start()
        try:
            token = coordinator.login()
            async with api(coordinator, token) as client:
                await wait_online(client, node.node_id)
            target = f"127.0.0.1:{coordinator.port}"
            async with start_prometheus(work / "prometheus", target, token) as url:
                fleet = Observed(coordinator, node, token, url)
                await eventually(
                    lambda: _scraped(fleet), timeout=30, what="Prometheus scraping the coordinator"
                )
                yield fleet
        finally:
            node.stop()
            print(f"--- node log ---\n{node.log()[-10000:]}")


async def _ready(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"Prometheus exited with {proc.returncode} (its log follows)")
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{url}/-/ready")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def _scraped(fleet: Observed) -> bool:
    try:
        up = await fleet.promql('up{job="docklord"}')
    except httpx.HTTPError:
        return False
    return bool(up) and up[0]["value"][1] == "1"


async def metric(fleet: Observed, family: str, name: str) -> float | None:
    """The value of ``family`` for container ``name`` on the fleet's node in /metrics."""
    async with fleet.client() as client:
        text = (await client.get("/metrics")).text
    for found in text_string_to_metric_families(text):
        for sample in found.samples:
            labels = sample.labels
            if sample.name == family and labels.get("name") == name:
                assert labels["node"] == fleet.node_id
                return float(sample.value)
    return None


async def history(fleet: Observed, name: str) -> list[dict[str, Any]]:
    path = f"/api/v1/nodes/{fleet.node_id}/containers/{name}/stats/history"
    async with fleet.client() as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    samples: list[dict[str, Any]] = response.json()["samples"]
    return samples


async def test_a_cpu_burner_shows_in_history_metrics_and_prometheus_then_falls(
    observed: Observed, labelled_container: Callable[..., str], docker: Callable[..., str]
) -> None:
    name = labelled_container("sh", "-c", "yes > /dev/null & sleep 3600")

    async def burning() -> bool:
        return any(s["cpu_percent"] > 50 for s in await history(observed, name))

    await eventually(burning, timeout=30, what="history above 50 % CPU")

    async def metric_burning() -> bool:
        value = await metric(observed, "docklord_container_cpu_percent", name)
        return value is not None and value > 50

    await eventually(metric_burning, timeout=15, what="/metrics above 50 % CPU")
    async with observed.client() as client:
        rows = (await client.get("/api/v1/containers", params={"sort": "cpu_percent"})).json()
    assert rows["containers"][0]["name"] == name and rows["containers"][0]["cpu_percent"] > 50

    labels = f'name="{name}", node="{observed.node_id}"'

    async def in_prometheus() -> bool:
        cpu = await observed.promql(f"rate(container_cpu_usage_seconds_total{{{labels}}}[5s])")
        memory = await observed.promql(f"container_memory_usage_bytes{{{labels}}}")
        return bool(cpu and memory) and float(cpu[0]["value"][1]) > 0.5

    await eventually(in_prometheus, timeout=30, interval=0.5, what="Prometheus to see it")
    [series] = await observed.promql(f"container_cpu_usage_seconds_total{{{labels}}}")
    assert series["metric"]["image"] == "docklord-test/busybox:latest"
    assert float(series["value"][1]) > 0

    await stats_ws_starts_with_history(observed, name)

    docker("exec", name, "killall", "yes")

    async def cooled() -> bool:
        samples = await history(observed, name)
        return samples[-1]["cpu_percent"] < 10

    await eventually(cooled, timeout=20, what="history to fall after the burner stopped")
    assert any(s["cpu_percent"] > 50 for s in await history(observed, name))  # kept

    docker("stop", "-t", "1", name)

    async def unsampled() -> bool:
        async with observed.client() as client:
            rows = (await client.get("/api/v1/containers", params={"q": name})).json()
        return "cpu_percent" not in rows["containers"][0] and (
            await metric(observed, "docklord_container_cpu_percent", name) is None
        )

    await eventually(unsampled, timeout=20, what="a stopped container to lose its CPU series")


async def stats_ws_starts_with_history(fleet: Observed, name: str) -> None:
    url = f"ws://127.0.0.1:{fleet.coordinator.port}/api/v1/nodes/{fleet.node_id}"
    headers = {"Authorization": f"Bearer {fleet.token}"}
    connected = time.time()
    async with websockets.connect(
        f"{url}/containers/{name}/stats/ws", additional_headers=headers
    ) as ws:
        frames = [json.loads(await ws.recv()) for _ in range(4)]
        live = json.loads(await ws.recv())
    reads = [_unix(f["read"]) for f in frames]
    assert reads[0] < connected - 1, "the first frames are the coordinator's history"
    assert reads == sorted(reads)
    assert _unix(live["read"]) >= reads[-1]
    assert max(f["cpu_percent"] for f in frames) > 50, frames


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_every_dashboard_expression_evaluates_in_prometheus(
    observed: Observed, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "3600")

    async def scraped() -> bool:
        return bool(await observed.promql(f'docklord_container_state{{name="{name}"}}'))

    await eventually(scraped, timeout=30, interval=0.5, what="Prometheus to see the container")
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())
    ]
    assert len(expressions) >= 25
    for expr in expressions:
        query = (
            expr.replace("$__rate_interval", "10s")
            .replace("$node", ".*")
            .replace("$container", ".*")
        )
        await observed.promql(query)  # asserts a successful evaluation
    nodes = await observed.promql(f'docklord_container_state{{node="{observed.node_id}"}}')
    assert nodes, "the variable queries (label_values of docklord_container_state) find the node"
    async with httpx.AsyncClient(timeout=10) as client:
        labels = await client.get(
            f"{observed.prometheus}/api/v1/label/node/values",
            params={"match[]": "docklord_container_state"},
        )
    assert observed.node_id in labels.json()["data"]


async def test_metrics_without_a_token_answer_401(observed: Observed) -> None:
    async with httpx.AsyncClient(base_url=observed.coordinator.url, timeout=10) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
