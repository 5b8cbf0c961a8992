"""Instances end to end: a user asks the coordinator for an SSH box and logs in with their key.

A real coordinator and node, the real engine and the instance image (``./scripts/instance-image``),
and the real OpenSSH client. The node publishes instance ports on 127.0.0.1 from a random base.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import (
    TEST_LABEL,
    TEST_RUN,
    CoordinatorProcess,
    NodeProcess,
    eventually,
    unique_name,
)

from .conftest import api, started_coordinator, store_of, wait_online

pytestmark = pytest.mark.e2e

BUSYBOX = "docklord-test/busybox:latest"


@dataclass
class Box:
    """What a test needs to use instances: the processes, the port base and an admin client."""

    coordinator: CoordinatorProcess
    node: NodeProcess
    port_base: int
    admin: httpx.AsyncClient


@dataclass
class Person:
    """A user with a session token and an SSH key pair."""

    name: str
    client: httpx.AsyncClient
    key: Path

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text().strip()


def remove_instance_containers() -> None:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=docklord.instance"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "rm", "-f", *listed], capture_output=True, check=False)


@pytest.fixture(scope="module")
def instance_node(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str, instance_image: str
) -> Iterator[tuple[CoordinatorProcess, NodeProcess, int]]:
    root = tmp_path_factory.mktemp("instances")
    base = 21_000 + secrets.randbelow(400) * 10
    with started_coordinator(root / "coordinator") as coordinator:
        (root / "node").mkdir()
        node = NodeProcess(
            [coordinator.ws_url],
            unique_name("node"),
            secrets.token_urlsafe(16),
            docker_host=docker_host,
            workdir=root / "node",
            extra_args=[
                "--instance-host-ip=127.0.0.1",
                f"--instance-port-base={base}",
                "--max-instances=3",
            ],
        )
        node.start()
        try:
            yield coordinator, node, base
        finally:
            node.stop()
            remove_instance_containers()


@pytest.fixture
async def box(instance_node: tuple[CoordinatorProcess, NodeProcess, int]) -> AsyncIterator[Box]:
    coordinator, node, base = instance_node
    async with api(coordinator, coordinator.login()) as admin:
        await wait_online(admin, node.node_id)
        yield Box(coordinator, node, base, admin)
        # Every test leaves no instance behind.
        everyone = (await admin.get("/api/v1/instances", params={"all": "true"})).json()
        for instance in everyone["instances"]:
            await admin.delete(f"/api/v1/instances/{instance['id']}")


async def person(box: Box, tmp_path: Path, role: str = "viewer") -> AsyncIterator[Person]:
    name, password = unique_name(role), secrets.token_urlsafe(12)
    async with store_of(box.coordinator) as store:
        await store.create_user(name, password, role)
    key = tmp_path / f"{name}-key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    async with api(box.coordinator, box.coordinator.login(name, password)) as client:
        client.timeout = httpx.Timeout(90)
        yield Person(name, client, key)


@pytest.fixture
async def alice(box: Box, tmp_path: Path) -> AsyncIterator[Person]:
    async for made in person(box, tmp_path):
        yield made


@pytest.fixture
async def bob(box: Box, tmp_path: Path) -> AsyncIterator[Person]:
    async for made in person(box, tmp_path, "operator"):
        yield made


async def ssh(who: Person, port: int, *command: str) -> subprocess.CompletedProcess[str]:
    argv = [
        "ssh",
        "-i",
        str(who.key),
        "-p",
        str(port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
        "root@127.0.0.1",
        *command,
    ]
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=30, check=False
    )


async def logged_in(who: Person, port: int) -> str:
    async def answers() -> str | None:
        done = await ssh(who, port, "echo", "logged-in-as", "$(whoami)")
        return done.stdout if done.returncode == 0 else None

    return await eventually(answers, timeout=30, what=f"ssh to 127.0.0.1:{port}")


async def create(who: Person, **body: Any) -> dict[str, Any]:
    response = await who.client.post(
        "/api/v1/instances", json={"ssh_public_key": who.public_key, **body}
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_create_log_in_stop_start_and_delete(box: Box, alice: Person) -> None:
    answer = await create(alice)
    assert answer["success"] is True and "created" in answer["message"]
    data = answer["data"]
    ssh_port = data["ports"]["ssh"]
    assert data["ports"] == {"ssh": ssh_port, "http": ssh_port + 1, "https": ssh_port + 2}
    assert ssh_port >= box.port_base
    assert (data["owner"], data["node_id"], data["state"]) == (
        alice.name,
        box.node.node_id,
        "running",
    )
    assert len(data["containerId"]) == 64
    assert (await logged_in(alice, ssh_port)).split() == ["logged-in-as", "root"]
    assert (await ssh(alice, ssh_port, "echo kept > /root/note")).returncode == 0

    url = f"/api/v1/instances/{data['id']}"
    stopped = (await alice.client.post(f"{url}/stop")).json()
    assert stopped["success"] is True and stopped["data"]["state"] == "exited"
    assert (await ssh(alice, ssh_port, "true")).returncode != 0

    started = (await alice.client.post(f"{url}/start")).json()
    assert started["data"]["state"] == "running"
    assert started["data"]["ports"] == data["ports"]
    await logged_in(alice, ssh_port)
    assert (await ssh(alice, ssh_port, "cat", "/root/note")).stdout == "kept\n"

    listed = (await alice.client.get("/api/v1/instances")).json()["instances"]
    assert [i["id"] for i in listed] == [data["id"]]
    assert (await alice.client.get(url)).json()["state"] == "running"

    deleted = await alice.client.delete(url)
    assert deleted.status_code == 200 and deleted.json()["data"]["state"] == "deleted"
    assert (await alice.client.get(url)).status_code == 404
    gone = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=docklord.instance={data['id']}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert gone.stdout == ""

    audit = await box.admin.get("/api/v1/audit", params={"actor": f"user:{alice.name}"})
    actions = [e["action"] for e in audit.json()["entries"] if e["target"] == data["id"]]
    assert actions == ["instance.delete", "instance.start", "instance.stop", "instance.create"]


async def test_ports_are_blocks_of_three_and_freed_on_delete(
    box: Box, alice: Person, bob: Person
) -> None:
    first = (await create(alice))["data"]
    second = (await create(bob))["data"]
    assert second["ports"]["ssh"] >= first["ports"]["ssh"] + 3
    await logged_in(bob, second["ports"]["ssh"])
    # Each key opens its own box only.
    assert (await ssh(alice, second["ports"]["ssh"], "true")).returncode != 0

    assert (await alice.client.delete(f"/api/v1/instances/{first['id']}")).status_code == 200
    again = (await create(alice))["data"]
    assert again["ports"] == first["ports"]  # the lowest free block is the freed one
    await logged_in(alice, again["ports"]["ssh"])


async def test_one_per_user_per_node_and_only_ones_own(
    box: Box, alice: Person, bob: Person
) -> None:
    mine = (await create(alice))["data"]
    twice = await alice.client.post("/api/v1/instances", json={"ssh_public_key": alice.public_key})
    assert twice.status_code == 409
    assert "already have an instance" in twice.json()["error"]["message"]

    url = f"/api/v1/instances/{mine['id']}"
    assert (await bob.client.get(url)).status_code == 404
    assert (await bob.client.post(f"{url}/stop")).status_code == 404
    assert (await bob.client.delete(url)).status_code == 404
    assert (await bob.client.get("/api/v1/instances")).json() == {"instances": []}
    forbidden = await bob.client.get("/api/v1/instances", params={"all": "true"})
    assert forbidden.status_code == 403
    everyone = (await box.admin.get("/api/v1/instances", params={"all": "true"})).json()
    assert [i["owner"] for i in everyone["instances"]] == [alice.name]
    assert (await box.admin.get(url)).json()["id"] == mine["id"]

    # A user who still has instances cannot be deleted.
    users = (await box.admin.get("/api/v1/users")).json()["users"]
    alice_id = next(u["id"] for u in users if u["username"] == alice.name)
    refused = await box.admin.delete(f"/api/v1/users/{alice_id}")
    assert refused.status_code == 409 and "instance" in refused.json()["error"]["message"]


async def test_bad_requests_are_clear_4xx(box: Box, alice: Person) -> None:
    post = alice.client.post
    for body, field in [
        ({}, "ssh_public_key"),
        ({"ssh_public_key": "hello"}, "ssh_public_key"),
        ({"ssh_public_key": "ssh-ed25519 AAAAnot-base64!"}, "ssh_public_key"),
        ({"ssh_public_key": alice.public_key + "\nssh-rsa AAAA"}, "ssh_public_key"),
        ({"ssh_public_key": alice.public_key, "extra": 1}, "extra"),
        ({"ssh_public_key": alice.public_key, "node": "bad node"}, "node"),
    ]:
        response = await post("/api/v1/instances", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in {f["field"] for f in response.json()["error"]["fields"]}
    unknown = await post(
        "/api/v1/instances", json={"ssh_public_key": alice.public_key, "node": "dl-nowhere"}
    )
    assert unknown.status_code == 404
    for path in ("/api/v1/instances/not-an-id", "/api/v1/instances/0123456789abcdef"):
        assert (await alice.client.get(path)).status_code in (404, 422)
    assert (await alice.client.get("/api/v1/instances")).json() == {"instances": []}


async def test_instance_containers_are_not_in_the_containers_api(
    box: Box, alice: Person, bob: Person
) -> None:
    """Only /api/v1/instances reaches an instance, for its owner and admins (defect 4)."""
    data = (await create(alice))["data"]
    container_id, name = data["containerId"], f"docklord-instance-{data['id']}"
    base = f"/api/v1/nodes/{box.node.node_id}/containers"

    async def admin_lists_it() -> bool:
        listed = (await box.admin.get("/api/v1/containers")).json()["containers"]
        return any(c["id"] == container_id for c in listed)

    await eventually(admin_lists_it, what="the instance container in the fleet cache")
    assert (await box.admin.get(f"{base}/{name}")).json()["id"] == container_id
    for who in (alice, bob):  # the owner too: an instance is reached as an instance
        for listing in ("/api/v1/containers", base):
            rows = (await who.client.get(listing)).json()["containers"]
            assert container_id not in {r["id"] for r in rows}
        for ref in (name, container_id, container_id[:12]):
            for method, path, params in _CONTAINER_ROUTES:
                if method != "GET" and who is alice:
                    continue  # a viewer may not act on any container (403 before the lookup)
                response = await who.client.request(method, f"{base}/{ref}{path}", **params)
                assert response.status_code == 404, (who.name, method, path, response.text)
                assert response.json()["error"]["message"] == f"no such container: {ref}"
        await _websockets_say_no_such_container(box, who, base, container_id, name)

    await _streams_leave_it_out(box, bob, container_id, name)

    # Nothing reached the instance: it runs, and only the owner's key is in it.
    assert (await alice.client.get(f"/api/v1/instances/{data['id']}")).json()["state"] == "running"
    await logged_in(alice, data["ports"]["ssh"])
    keys = await ssh(alice, data["ports"]["ssh"], "cat", "/root/.ssh/authorized_keys")
    assert keys.stdout == alice.public_key + "\n"


_CONTAINER_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "", {}),
    ("GET", "/top", {}),
    ("GET", "/logs", {}),
    ("GET", "/stats", {}),
    ("POST", "/exec", {"json": {"cmd": ["sh", "-c", "echo x >> /root/.ssh/authorized_keys"]}}),
    *[("POST", f"/{action}", {}) for action in ("stop", "restart", "kill", "pause", "unpause")],
    ("POST", "/start", {}),
    ("DELETE", "", {"params": {"force": "true"}}),
]


async def _websockets_say_no_such_container(
    box: Box, who: Person, base: str, container_id: str, name: str
) -> None:
    headers = {"Authorization": who.client.headers["Authorization"]}
    root = f"ws://127.0.0.1:{box.coordinator.port}"
    paths = ["logs/ws", "stats/ws"] + (["exec/ws?cmd=sh"] if "operator" in who.name else [])
    for path in paths:
        async with websockets.connect(
            f"{root}{base}/{name}/{path}", additional_headers=headers
        ) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404, path
    if "operator" in who.name:  # /api/ws needs the operator role
        async with websockets.connect(f"{root}/api/ws", additional_headers=headers) as ws:
            for ref in (container_id, name, f"{box.node.node_id}/{name}"):
                await ws.send(json.dumps({"type": "connect", "server_id": ref}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert reply == {"type": "error", "message": f"no such container: {ref}"}


async def _container_events(ws: websockets.ClientConnection, count: int) -> list[Any]:
    """The next ``count`` engine events on an events socket (an admin's also carries the audit
    entries of the requests that caused them, ``kind: audit``)."""
    events: list[Any] = []
    while len(events) < count:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("kind") == "event":
            events.append(message)
    return events


async def _streams_leave_it_out(box: Box, bob: Person, container_id: str, name: str) -> None:
    """The events stream and the seed listing show an instance container to admins only."""
    root = f"ws://127.0.0.1:{box.coordinator.port}/api/v1/events/ws"
    as_bob = {"Authorization": bob.client.headers["Authorization"]}
    as_admin = {"Authorization": box.admin.headers["Authorization"]}
    async with (
        websockets.connect(root, additional_headers=as_bob, max_size=2**24) as bob_events,
        websockets.connect(root, additional_headers=as_admin, max_size=2**24) as admin_events,
    ):
        bob_first = json.loads(await asyncio.wait_for(bob_events.recv(), 30))
        admin_first = json.loads(await asyncio.wait_for(admin_events.recv(), 30))
        assert container_id not in {c["id"] for c in bob_first["containers"]}
        assert container_id in {c["id"] for c in admin_first["containers"]}
        # An admin acts on it through the container routes; bob's stream shows none of it.
        base = f"/api/v1/nodes/{box.node.node_id}/containers"
        for action in ("pause", "unpause"):
            acted = await box.admin.post(f"{base}/{name}/{action}")
            assert acted.status_code == 200, acted.text
        seen = await _container_events(admin_events, 2)
        assert [(m.get("actor_id"), m.get("action")) for m in seen] == [
            (container_id, "pause"),
            (container_id, "unpause"),
        ]
        marker = unique_name("c")
        made = await bob.client.post(
            base, json={"image": BUSYBOX, "name": marker, "labels": {TEST_LABEL: TEST_RUN}}
        )
        try:
            assert made.status_code == 201, made.text
            while (message := json.loads(await asyncio.wait_for(bob_events.recv(), 30))).get(
                "actor_id"
            ) != made.json()["id"]:
                assert container_id not in json.dumps(message), message
        finally:
            subprocess.run(["docker", "rm", "-f", marker], capture_output=True, check=False)
    async with httpx.AsyncClient(base_url=box.coordinator.url, timeout=30) as anonymous:
        seed = await anonymous.get(
            "/api/containers", params={"node_id": box.node.node_id, "password": box.node.password}
        )
    assert seed.status_code == 200, seed.text
    assert container_id not in {c["id"] for c in seed.json()["containers"]}
