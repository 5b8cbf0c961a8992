"""TLS end to end: ``docklord certs``, HTTPS/WSS and gRPC over TLS, nodes verifying the CA."""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, NodeProcess, eventually, unique_name

from .conftest import started_coordinator

pytestmark = pytest.mark.e2e


@dataclass
class Tls:
    coordinator: CoordinatorProcess
    ca: Path
    wrong_ca: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.coordinator.port}"

    @property
    def wss(self) -> str:
        return f"wss://127.0.0.1:{self.coordinator.port}"

    @property
    def grpcs(self) -> str:
        return f"grpcs://127.0.0.1:{self.coordinator.grpc_port}"

    def context(self, ca: Path | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(ca or self.ca))

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.https, verify=self.context(), headers=headers, timeout=10
        )


def certs(out: Path, *hosts: str) -> Path:
    """Run ``docklord certs``; returns the directory."""
    args = [sys.executable, "-m", "docklord", "certs", f"--out={out}"]
    done = subprocess.run(
        [*args, *(f"--host={h}" for h in hosts)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--tls-cert" in done.stdout
    return out


def wait_ready(tls: Tls, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = tls.coordinator.proc
        assert proc is not None and proc.poll() is None, tls.coordinator.log()
        try:
            response = httpx.get(f"{tls.https}/readyz", verify=tls.context(), timeout=1)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"TLS coordinator not ready:\n{tls.coordinator.log()}")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    root = tmp_path_factory.mktemp("tls")
    good = certs(root / "certs", "127.0.0.1", "localhost")
    wrong = certs(root / "other-ca", "127.0.0.1")
    tls_files = [f"--tls-cert={good / 'server.pem'}", f"--tls-key={good / 'server-key.pem'}"]
    with started_coordinator(root / "coordinator", extra_args=tls_files, wait=False) as started:
        setup = Tls(started, good / "ca.pem", wrong / "ca.pem")
        wait_ready(setup)
        yield setup


@pytest.fixture
async def admin_token(tls: Tls) -> AsyncIterator[str]:
    async with tls.client() as client:
        response = await client.post(
            "/api/v1/auth/login",
            json={"username": "admin", "password": tls.coordinator.admin_password},
        )
    assert response.status_code == 200
    yield response.json()["token"]


@pytest.fixture
def tls_node(tmp_path: Path, docker_host: str) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def start(url: str, ca: Path) -> NodeProcess:
        name = unique_name("tls")
        node = NodeProcess(
            [url],
            name,
            secrets.token_urlsafe(16),
            docker_host=docker_host,
            workdir=tmp_path / name,
            extra_args=[f"--ca-file={ca}"],
        )
        node.workdir.mkdir(parents=True)
        node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
        print(f"--- node {node.node_id} ---\n{node.log()[-5000:]}")


async def test_https_api_and_a_secure_cookie(tls: Tls) -> None:
    async with tls.client() as client:
        response = await client.post(
            "/api/v1/auth/login",
            json={"username": "admin", "password": tls.coordinator.admin_password},
        )
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie
    wrong = httpx.AsyncClient(base_url=tls.https, verify=tls.context(tls.wrong_ca), timeout=5)
    async with wrong:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await wrong.get("/healthz")


async def test_nodes_over_wss_and_grpc_tls_verify_the_coordinator(
    tls: Tls,
    admin_token: str,
    tls_node: Callable[..., NodeProcess],
    labelled_container: Callable[..., str],
) -> None:
    over_wss = tls_node(tls.wss, tls.ca)
    over_grpcs = tls_node(tls.grpcs, tls.ca)
    nodes = (over_wss.node_id, over_grpcs.node_id)
    async with tls.client(admin_token) as client:

        async def online() -> bool:
            listed = (await client.get("/api/v1/nodes")).json()["nodes"]
            status = {n["node_id"]: n["status"] for n in listed}
            return all(status.get(n) == "online" for n in nodes)

        await eventually(online, timeout=20, what="both TLS nodes online")
        url = f"{tls.wss}/api/v1/events/ws"
        headers = {"Authorization": f"Bearer {admin_token}"}
        async with websockets.connect(url, ssl=tls.context(), additional_headers=headers) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert snapshot["kind"] == "snapshot"
            name = labelled_container("sleep", "30")

            async def started_on_both() -> bool:
                seen: set[str] = set()
                while seen != set(nodes):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    container = message.get("container") or {}
                    if message.get("action") == "start" and container.get("name") == name:
                        seen.add(message["node_id"])
                return True

            await eventually(started_on_both, what="the start event from both nodes")
    assert "link down" not in over_wss.log() + over_grpcs.log()


async def test_nodes_refuse_a_coordinator_their_ca_did_not_sign(
    tls: Tls, admin_token: str, tls_node: Callable[..., NodeProcess]
) -> None:
    over_wss = tls_node(tls.wss, tls.wrong_ca)
    over_grpcs = tls_node(tls.grpcs, tls.wrong_ca)

    async def refused(node: NodeProcess, reason: str) -> bool:
        return "link down" in node.log() and reason in node.log()

    await eventually(
        lambda: refused(over_wss, "CERTIFICATE_VERIFY_FAILED"), what="wss refused by the node"
    )
    await eventually(
        lambda: refused(over_grpcs, "CERTIFICATE_VERIFY_FAILED"), what="grpcs refused by the node"
    )
    async with tls.client(admin_token) as client:
        listed = {n["node_id"] for n in (await client.get("/api/v1/nodes")).json()["nodes"]}
    assert not listed & {over_wss.node_id, over_grpcs.node_id}
