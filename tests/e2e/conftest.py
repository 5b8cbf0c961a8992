"""Fixtures for end-to-end tests: real coordinator and node processes over a real engine."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from sqlalchemy import make_url

from docklord.store import Store
from docklord.testing import (
    TEST_LABEL,
    TEST_RUN,
    CoordinatorProcess,
    NodeProcess,
    eventually,
    unique_name,
)

ROOT = Path(__file__).resolve().parents[2]


def _coordinator_database() -> str:
    """``postgresql`` when ``DOCKLORD_TEST_COORDINATOR_DB`` asks for it, else ``sqlite``."""
    kind = os.environ.get("DOCKLORD_TEST_COORDINATOR_DB", "sqlite")
    assert kind in ("sqlite", "postgresql"), f"unknown DOCKLORD_TEST_COORDINATOR_DB={kind}"
    return kind


@contextmanager
def coordinator_database() -> Iterator[list[str]]:
    """Extra coordinator flags for the database under test: a fresh PostgreSQL database per
    coordinator when the suite runs on PostgreSQL (dropped afterwards), else nothing (SQLite
    in the coordinator's data dir)."""
    if _coordinator_database() == "sqlite":
        yield []
        return
    base = (
        os.environ.get("DOCKLORD_TEST_DATABASE_URL")
        or subprocess.run(
            [str(ROOT / "scripts" / "postgres")], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    url = make_url(base)
    name = f"dl_e2e_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    _psql(admin, f"CREATE DATABASE {name}")
    try:
        yield [f"--database-url={url.set(database=name).render_as_string(hide_password=False)}"]
    finally:
        _psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _psql(url: str, sql: str) -> None:
    done = subprocess.run(["psql", url, "-q", "-c", sql], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@contextmanager
def started_coordinator(
    workdir: Path, *, extra_args: Sequence[str] = (), wait: bool = True, **kw: Any
) -> Iterator[CoordinatorProcess]:
    """A coordinator in ``workdir`` on the database under test; stopped afterwards.

    Keyword arguments go to ``CoordinatorProcess``. With ``wait`` (the default) it is ready
    (``/readyz`` over plain HTTP) when the block starts. The coordinator log is printed at the
    end (pytest shows it only when the test failed).
    """
    with coordinator_database() as flags:
        workdir.mkdir(parents=True, exist_ok=True)
        proc = CoordinatorProcess(workdir, extra_args=[*flags, *extra_args], **kw)
        proc.start()
        try:
            if wait:
                proc.wait_ready()
            yield proc
        finally:
            proc.stop()
            print(f"--- coordinator log ---\n{proc.log()[-20000:]}")


def database_url_of(coordinator: CoordinatorProcess) -> str | None:
    """The ``--database-url`` a coordinator runs with, or ``None`` for SQLite in its data dir."""
    for arg in coordinator.args:
        if arg.startswith("--database-url="):
            return arg.split("=", 1)[1]
    return None


def store_of(coordinator: CoordinatorProcess) -> Store:
    """A ``Store`` on the coordinator's own database (to read the audit log, to add users)."""
    sqlite = f"sqlite+aiosqlite:///{coordinator.workdir / 'data' / 'docklord.db'}"
    return Store(database_url_of(coordinator) or sqlite)


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[CoordinatorProcess]:
    """A running coordinator (open registration, WebSocket + gRPC links) on the database
    under test."""
    with started_coordinator(tmp_path / "coordinator") as proc:
        yield proc


NodeFactory = Callable[..., NodeProcess]


@pytest.fixture
def start_node(tmp_path: Path, docker_host: str) -> Iterator[NodeFactory]:
    """Start node processes; each gets its own id, password and state dir; all stop after."""
    started: list[NodeProcess] = []

    def factory(
        urls: list[str],
        *,
        node_id: str | None = None,
        password: str | None = None,
        engine: str | None = None,
    ) -> NodeProcess:
        name = node_id or unique_name("node")
        workdir = tmp_path / f"node-{name}-{len(started)}"
        workdir.mkdir(parents=True)
        proc = NodeProcess(
            urls,
            name,
            password or secrets.token_urlsafe(16),
            docker_host=engine or docker_host,
            workdir=workdir,
        )
        proc.start()
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()
        print(f"--- node {proc.node_id} log ---\n{proc.log()[-10000:]}")


@pytest.fixture
def docker(docker_host: str) -> Callable[..., str]:
    """Run the docker CLI against the engine under test (to act on it *directly*)."""

    def run(*args: str) -> str:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    return run


@pytest.fixture
def labelled_container(
    docker: Callable[..., str], busybox_image: str
) -> Iterator[Callable[..., str]]:
    """Create containers with the test label straight on the engine; remove them after."""
    made: list[str] = []

    def make(*cmd: str, name: str | None = None, start: bool = True) -> str:
        name = name or unique_name("c")
        verb = ["run", "-d"] if start else ["create"]
        docker(*verb, "--name", name, "--label", f"{TEST_LABEL}={TEST_RUN}", busybox_image, *cmd)
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


class EventStream:
    """A client of ``/api/v1/events/ws`` that keeps every message it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def next(self, wait: float = 10.0) -> dict[str, Any]:
        """The next message; ``TimeoutError`` after ``wait`` seconds."""
        raw = await asyncio.wait_for(self.ws.recv(), wait)
        message: dict[str, Any] = json.loads(raw)
        self.messages.append(message)
        return message

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], wait: float = 10.0
    ) -> dict[str, Any]:
        """Read until a message matches ``predicate``; ``TimeoutError`` after ``wait`` s."""

        async def scan() -> dict[str, Any]:
            while True:
                message = await self.next(wait)
                if predicate(message):
                    return message

        return await asyncio.wait_for(scan(), wait)


@pytest.fixture
async def open_events() -> AsyncIterator[Callable[..., Any]]:
    """Open event streams (closed after the test)."""
    opened: list[Any] = []
    streams: list[EventStream] = []

    async def connect(coordinator: CoordinatorProcess, token: str, **query: str) -> EventStream:
        params = urlencode(query)
        url = f"ws://127.0.0.1:{coordinator.port}/api/v1/events/ws?{params}"
        ws = await websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**24
        )
        opened.append(ws)
        streams.append(EventStream(ws))
        return streams[-1]

    yield connect
    for ws in opened:
        await ws.close()
    for stream in streams:
        print(f"--- event stream: {len(stream.messages)} messages ---")
        for message in stream.messages[-50:]:
            print(json.dumps(message)[:300])


class PrivateEngine:
    """A second, throw-away dockerd that a test may stop and start.

    It gets a bridge of its own and no iptables rules, so it leaves the engine under test alone
    (``--bridge=none`` would not do: dockerd then deletes the shared ``docker0``).
    """

    image = "docklord-test/busybox:latest"
    bridge = "dltest0"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def add_bridge(self) -> None:
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        for cmd in (
            ["link", "add", "name", self.bridge, "type", "bridge"],
            ["addr", "add", "10.231.77.1/24", "dev", self.bridge],
            ["link", "set", self.bridge, "up"],
        ):
            subprocess.run(["ip", *cmd], capture_output=True, check=True)

    def del_bridge(self) -> None:
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)

    def start(self) -> None:
        with open(self.root / "dockerd.log", "ab") as log:
            self.proc = self._spawn(log)
        deadline = time.monotonic() + 30
        while subprocess.run(
            ["docker", "-H", self.host, "version"], capture_output=True, check=False
        ).returncode:
            assert time.monotonic() < deadline, (self.root / "dockerd.log").read_text()
            time.sleep(0.1)

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'docker.pid'}",
                f"--host={self.host}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def create(self) -> str:
        """A stopped, labelled container; returns its full id."""
        return self.docker("create", "--label", f"{TEST_LABEL}={TEST_RUN}", self.image, "true")


@pytest.fixture
def private_engine(
    tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[PrivateEngine]:
    """A dockerd of the test's own, loaded with the busybox image."""
    root = Path(tempfile.mkdtemp(prefix="dl-engine-", dir="/var/tmp"))
    engine = PrivateEngine(root)
    engine.add_bridge()
    engine.start()
    try:
        saved = subprocess.run(
            ["docker", "save", busybox_image], capture_output=True, check=True
        ).stdout
        subprocess.run(
            ["docker", "-H", engine.host, "load"], input=saved, capture_output=True, check=True
        )
        yield engine
    finally:
        engine.stop()
        engine.del_bridge()
        shutil.rmtree(root, ignore_errors=True)


def api(coordinator: CoordinatorProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=coordinator.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


async def wait_online(client: httpx.AsyncClient, *node_ids: str) -> None:
    async def online() -> bool:
        nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
        status = {n["node_id"]: n["status"] for n in nodes}
        return all(status.get(n) == "online" for n in node_ids)

    await eventually(online, timeout=20, what=f"nodes {node_ids} online")


@dataclass
class Cluster:
    """A coordinator and one node linked to it, for a whole test module."""

    coordinator: CoordinatorProcess
    node: NodeProcess
    token: str

    @property
    def base(self) -> str:
        return f"/api/v1/nodes/{self.node.node_id}"

    def store(self) -> Store:
        """The coordinator's own database (to read the audit log, to add users)."""
        return store_of(self.coordinator)


@contextmanager
def running_cluster(root: Path, docker_host: str) -> Iterator[Cluster]:
    """Start a coordinator (on the database under test) and a node under ``root``."""
    with coordinator_database() as flags, _cluster(root, docker_host, flags) as cluster:
        yield cluster


@contextmanager
def _cluster(root: Path, docker_host: str, flags: list[str]) -> Iterator[Cluster]:
    coordinator = CoordinatorProcess(root / "coordinator", extra_args=flags)
    coordinator.workdir.mkdir(parents=True)
    coordinator.start()
    (root / "node").mkdir()
    node = NodeProcess(
        [coordinator.ws_url],
        unique_name("node"),
        secrets.token_urlsafe(16),
        docker_host=docker_host,
        workdir=root / "node",
    )
    try:
        coordinator.wait_ready()
        node.start()
        yield Cluster(coordinator, node, coordinator.login())
    finally:
        node.stop()
        coordinator.stop()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, busybox_image: str
) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), docker_host) as started:
        yield started


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    proc = cluster.node.proc
    assert proc is not None and proc.poll() is None, f"the node died:\n{cluster.node.log()}"
    async with api(cluster.coordinator, cluster.token) as http:
        http.timeout = httpx.Timeout(60)
        await wait_online(http, cluster.node.node_id)
        yield http
