"""What a create body, a top or a logs request may ask for, and who may ask for it.

A real coordinator and node over the real engine: settings that amount to root on the host are
refused to operators (403 naming the field, audited) and work for admins; settings the API does
not accept at all are refused to everyone (422 naming the field); label sizes, lone surrogates,
the ``ps_args`` of ``top`` and the ``tail`` of ``logs`` are checked (422), never a 500.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import TEST_LABEL, TEST_RUN, eventually, unique_name

from .conftest import Cluster, api

pytestmark = pytest.mark.e2e

BUSYBOX = "docklord-test/busybox:latest"


@pytest.fixture
def made(docker_host: str) -> Iterator[list[str]]:
    """Names of containers to remove straight on the engine after a test."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


async def _client(cluster: Cluster, role: str) -> AsyncIterator[httpx.AsyncClient]:
    username, password = unique_name(role), secrets.token_urlsafe(12)
    async with cluster.store() as store:
        await store.create_user(username, password, role)
    async with api(cluster.coordinator, cluster.coordinator.login(username, password)) as client:
        client.timeout = httpx.Timeout(60)
        yield client


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(cluster, "operator"):
        yield client


@pytest.fixture
async def viewer(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(cluster, "viewer"):
        yield client


def body_of(made: list[str], **fields: Any) -> dict[str, Any]:
    name = unique_name("c")
    made.append(name)
    return {"image": BUSYBOX, "name": name, "labels": {TEST_LABEL: TEST_RUN}, **fields}


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """The error of ``response``, which must be ``status`` and name ``field``."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    if status == 422 and "fields" in error:
        named = {f["field"] for f in error["fields"]}
        assert any(n == field or n.startswith(f"{field}.") for n in named), (field, error)
    else:
        assert error["message"].startswith(f"{field}:"), (field, error)
    return error


def raw_json(doc: Any) -> dict[str, Any]:
    """Request arguments sending ``doc`` as ASCII JSON (a lone surrogate as its escape)."""
    return {"content": json.dumps(doc).encode(), "headers": {"content-type": "application/json"}}


def network_mode(name: str) -> str:
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{.HostConfig.NetworkMode}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


# ---- settings that amount to root on the host ---------------------------------------------


async def test_the_host_network_is_for_admins_only(
    client: httpx.AsyncClient, operator: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    url = f"{cluster.base}/containers"
    networks = (await client.get(f"{cluster.base}/networks")).json()["networks"]
    host_id = next(n["id"] for n in networks if n["name"] == "host")
    for network in ("host", host_id, host_id[:12]):
        error = refused(
            await operator.post(url, json=body_of(made, network=network)), 403, "network"
        )
        assert error["code"] == "forbidden" and error["details"] == {"field": "network"}
    me = (await operator.get("/api/v1/me")).json()["actor"]
    audit = await client.get("/api/v1/audit", params={"actor": me, "action": "container.create"})
    assert [e["result"] for e in audit.json()["entries"]] == ["error: forbidden"] * 3

    bridge = body_of(made, network="bridge")
    assert (await operator.post(url, json=bridge)).status_code == 201
    assert network_mode(bridge["name"]) == "bridge"
    host = body_of(made, network="host")
    assert (await client.post(url, json=host)).status_code == 201
    assert network_mode(host["name"]) == "host"


#: Docker create settings that amount to root on the host, which the API does not accept at
#: all (docs/SECURITY.md): the body refuses unknown fields, for admins too.
NOT_ACCEPTED = {
    "privileged": True,
    "cap_add": ["SYS_ADMIN"],
    "devices": [{"path_on_host": "/dev/sda"}],
    "device_cgroup_rules": ["a *:* rwm"],
    "pid": "host",
    "pid_mode": "host",
    "ipc": "host",
    "ipc_mode": "host",
    "uts_mode": "host",
    "userns_mode": "host",
    "cgroupns_mode": "host",
    "cgroup_parent": "/",
    "security_opt": ["apparmor=unconfined"],
    "sysctls": {"kernel.core_pattern": "|/tmp/x"},
    "network_mode": "host",
    "volumes_from": ["other"],
    "volume_driver": "local",
    "tmpfs": {"/x": ""},
    "runtime": "runc",
    "oom_kill_disable": True,
    "extra_hosts": ["a:1.2.3.4"],
    "binds": ["/:/host"],
}


async def test_other_root_settings_are_not_accepted_at_all(
    client: httpx.AsyncClient, operator: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    url = f"{cluster.base}/containers"
    for caller in (operator, client):
        for field, value in NOT_ACCEPTED.items():
            refused(await caller.post(url, json=body_of(made, **{field: value})), 422, field)
        for network in ("container:" + unique_name("c"), "host:x", "../host"):
            refused(await caller.post(url, json=body_of(made, network=network)), 422, "network")
        # A named volume is a name: a path there is neither a bind mount nor a volume.
        mount = {"type": "volume", "source": "/etc", "target": "/x"}
        refused(await caller.post(url, json=body_of(made, mounts=[mount])), 422, "mounts")
    created = (await client.get("/api/v1/containers", params={"q": made[0]})).json()
    assert created["count"] == 0


# ---- labels, surrogates ---------------------------------------------------------------------


async def test_label_sizes_are_bounded(
    operator: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    url = f"{cluster.base}/containers"
    too_big = [
        {"k" * 257: "v"},
        {"big": "x" * 4097},
        {"huge": "x" * 600_000},
        {f"k{i}": "x" * 4000 for i in range(17)},  # over 64 KiB in all
        {"docklord.instance": "0123456789abcdef"},
        {"docklord.instance.owner": "alice"},
    ]
    for labels in too_big:
        body = body_of(made, labels={TEST_LABEL: TEST_RUN, **labels})
        refused(await operator.post(url, json=body), 422, "labels")
    reserved_name = {**body_of(made), "name": "docklord-instance-0123456789abcdef"}
    refused(await operator.post(url, json=reserved_name), 422, "name")
    for kind, extra in (("volumes", {}), ("networks", {"name": unique_name("n")})):
        response = await operator.post(
            f"{cluster.base}/{kind}", json={**extra, "labels": too_big[2]}
        )
        refused(response, 422, "labels")
    at_limit = {TEST_LABEL: TEST_RUN, "k" * 256: "v", **{f"k{i}": "x" * 4000 for i in range(15)}}
    assert (await operator.post(url, json=body_of(made, labels=at_limit))).status_code == 201


async def test_lone_surrogates_are_invalid_input(
    client: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    url = f"{cluster.base}/containers"
    bad = "a\ud800b"
    for field, value in {
        "labels": {"k": bad},
        "env": {"K": bad},
        "cmd": ["echo", bad],
        "entrypoint": [bad],
        "working_dir": "/" + bad,
        "image": bad,
        "name": bad,
        "user": bad,
        "hostname": bad,
        "network": bad,
    }.items():
        refused(await client.post(url, **raw_json(body_of(made, **{field: value}))), 422, field)
    keyed = body_of(made, labels={bad: "v"})
    refused(await client.post(url, **raw_json(keyed)), 422, "labels")
    mount = {"type": "volume", "source": bad, "target": "/x"}
    refused(await client.post(url, **raw_json(body_of(made, mounts=[mount]))), 422, "mounts")

    running = body_of(made, cmd=["sleep", "300"], start=True)
    assert (await client.post(url, json=running)).status_code == 201
    exec_url = f"{url}/{running['name']}/exec"
    for field, value in {"cmd": ["echo", bad], "env": {"K": bad}, "workdir": "/" + bad}.items():
        exec_body = {"cmd": ["true"], field: value}
        refused(await client.post(exec_url, **raw_json(exec_body)), 422, field)
    volume = await client.post(f"{cluster.base}/volumes", **raw_json({"labels": {"k": bad}}))
    refused(volume, 422, "labels")
    instance = await client.post("/api/v1/instances", **raw_json({"ssh_public_key": bad}))
    refused(instance, 422, "ssh_public_key")


# ---- top ------------------------------------------------------------------------------------


async def test_top_shows_the_environment_only_to_who_may_see_it(
    client: httpx.AsyncClient, viewer: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    secret = secrets.token_hex(8)
    body = body_of(made, cmd=["sleep", "300"], env={"SECRET": secret}, start=True)
    assert (await client.post(f"{cluster.base}/containers", json=body)).status_code == 201
    top = f"{cluster.base}/containers/{body['name']}/top"
    node = cluster.node
    as_node = {"node_id": node.node_id, "password": node.password}
    for ps_args in ("eww", "e", "auxe", "-ef e", "aux;e", "-o pid,args e", "-o", "--sort=x"):
        refused(await viewer.get(top, params={"ps_args": ps_args}), 422, "query.ps_args")
        async with httpx.AsyncClient(base_url=cluster.coordinator.url, timeout=30) as anonymous:
            response = await anonymous.get(top, params={**as_node, "ps_args": ps_args})
            refused(response, 422, "query.ps_args")
    for ps_args in ("aux", "-ef", "-o pid,user,args", "ax -o pid,comm", "-eF", "axww"):
        response = await viewer.get(top, params={"ps_args": ps_args})
        assert response.status_code == 200, (ps_args, response.text)
        assert secret not in response.text
    shown = await client.get(top, params={"ps_args": "eww"})
    assert shown.status_code == 200 and secret in shown.text  # the admin sees the env anyway


async def lines_until_closed(ws: Any) -> list[dict[str, str]]:
    lines: list[dict[str, str]] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            lines.extend(json.loads(await asyncio.wait_for(ws.recv(), 30))["lines"])
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000, closed.value
    return lines


# ---- logs tail --------------------------------------------------------------------------------


async def test_logs_tail_all_and_empty_mean_every_line(
    client: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    body = body_of(made, cmd=["sh", "-c", "echo one; echo two; echo three"], start=True)
    assert (await client.post(f"{cluster.base}/containers", json=body)).status_code == 201
    logs = f"{cluster.base}/containers/{body['name']}/logs"

    async def wrote_all() -> bool:
        return (await client.get(logs)).text == "one\ntwo\nthree\n"

    await eventually(wrote_all, what="the three lines")
    for tail in ("all", ""):
        response = await client.get(logs, params={"tail": tail})
        assert response.status_code == 200 and response.text == "one\ntwo\nthree\n", tail
    assert (await client.get(logs, params={"tail": "1"})).text == "three\n"
    for tail in ("-1", "some", "1.5"):
        refused(await client.get(logs, params={"tail": tail}), 422, "query.tail")

    ws_url = f"ws://127.0.0.1:{cluster.coordinator.port}{logs}/ws"
    headers = {"Authorization": f"Bearer {cluster.token}"}
    for tail in ("all", ""):
        async with websockets.connect(f"{ws_url}?tail={tail}", additional_headers=headers) as ws:
            assert [line["line"] for line in await lines_until_closed(ws)] == [
                "one",
                "two",
                "three",
            ]
    async with websockets.connect(f"{ws_url}?tail=some", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_lone_surrogates_over_websockets_and_sign_in(
    client: httpx.AsyncClient, cluster: Cluster, made: list[str]
) -> None:
    running = body_of(made, cmd=["sleep", "300"], start=True)
    assert (await client.post(f"{cluster.base}/containers", json=running)).status_code == 201
    url = f"ws://127.0.0.1:{cluster.coordinator.port}/api/ws"
    headers = {"Authorization": f"Bearer {cluster.token}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "connect", "server_id": running["name"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connected"
        await ws.send(json.dumps({"type": "command", "command": "echo a\ud800"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["type"] == "error" and reply["message"].startswith("command:"), reply
        await ws.send(json.dumps({"type": "command", "command": "echo still here"}))
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "output":
            pass
        assert reply["stdout"] == "still here\n"
    login = await client.post(
        "/api/v1/auth/login", **raw_json({"username": "a\ud800", "password": "b\ud800"})
    )
    assert login.status_code in (401, 422), login.text
