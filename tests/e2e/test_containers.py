"""Container lifecycle through the coordinator: real coordinator and node processes, real engine.

One coordinator and one node serve the whole module; every container a test creates carries
the test label and is removed by the test.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from docklord.testing import (
    TEST_LABEL,
    TEST_RUN,
    eventually,
    free_port,
    unique_name,
)

from .conftest import Cluster, api

pytestmark = pytest.mark.e2e

BUSYBOX = "docklord-test/busybox:latest"
MIB = 1024 * 1024
HTTPD = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"


@pytest.fixture
def cleanup(docker_host: str) -> Iterator[list[str]]:
    """Names or ids of containers and volumes to remove straight on the engine after a test."""
    made: list[str] = []
    yield made
    for ref in made:
        subprocess.run(["docker", "rm", "-f", "-v", ref], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", ref], capture_output=True, check=False)


async def create(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str], **body: Any
) -> dict[str, Any]:
    body.setdefault("image", BUSYBOX)
    body.setdefault("name", unique_name("c"))
    body["labels"] = {TEST_LABEL: TEST_RUN, **body.get("labels", {})}
    cleanup.append(body["name"])
    response = await client.post(f"{cluster.base}/containers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_create_inspect_top_exec_and_remove(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    volume = unique_name("vol")
    cleanup.append(volume)
    made = await client.post(
        f"{cluster.base}/volumes", json={"name": volume, "labels": {TEST_LABEL: TEST_RUN}}
    )
    assert made.status_code == 201, made.text
    port = free_port()
    secret = secrets.token_hex(8)
    created = await create(
        client,
        cluster,
        cleanup,
        cmd=["sh", "-c", HTTPD],
        env={"GREETING": "hi there", "API_TOKEN": secret},
        labels={"app": "web"},
        ports=[{"container_port": 8080, "host_ip": "127.0.0.1", "host_port": port}],
        mounts=[{"source": volume, "target": "/data", "type": "volume"}],
        restart_policy="on-failure",
        restart_max_retries=3,
        memory="256m",
        cpus=0.5,
        hostname="web1",
        start=True,
    )
    name, cid = created.pop("name"), created.pop("id")
    assert created == {"node_id": cluster.node.node_id, "started": True}
    assert len(cid) == 64

    details = (await client.get(f"{cluster.base}/containers/{name}")).json()
    assert (details["id"], details["name"], details["state"]) == (cid, name, "running")
    assert details["node_id"] == cluster.node.node_id
    assert details["labels"].items() >= {TEST_LABEL: TEST_RUN, "app": "web"}.items()
    assert details["ports"] == [
        {"private_port": 8080, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": port}
    ]
    host = details["host_config"]
    assert host["memory"] == 256 * MIB and host["nano_cpus"] == 500_000_000
    assert host["cpus"] == 0.5
    assert (host["restart_policy"], host["restart_max_retries"]) == ("on-failure", 3)
    assert details["config"]["env"]["API_TOKEN"] == secret  # the admin may see it
    assert details["config"]["hostname"] == "web1"
    assert [(m["type"], m["name"], m["target"]) for m in details["mounts"]] == [
        ("volume", volume, "/data")
    ]
    assert "bridge" in details["networks"] and "raw" not in details

    async def serves() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as direct:
                return (await direct.get(f"http://127.0.0.1:{port}/")).text == "hello\n"
        except httpx.TransportError:
            return False

    await eventually(serves, what="the published port answers")

    by_id = await client.get(f"{cluster.base}/containers/{cid}", params={"raw": "true"})
    assert by_id.json()["raw"]["HostConfig"]["Memory"] == 256 * MIB
    by_prefix = await client.get(f"{cluster.base}/containers/{cid[:12]}")
    assert by_prefix.json()["name"] == name

    top = (await client.get(f"{cluster.base}/containers/{cid[:12]}/top")).json()
    assert "PID" in top["titles"]
    command = top["titles"].index("CMD")
    assert any("httpd" in row[command] for row in top["processes"])
    top_url = f"{cluster.base}/containers/{name}/top"
    top_args = await client.get(top_url, params={"ps_args": "-o pid,comm"})
    assert top_args.json()["titles"] == ["PID", "COMMAND"]

    await check_exec(client, f"{cluster.base}/containers/{name}/exec")

    running = await client.delete(f"{cluster.base}/containers/{name}")
    assert "force=true" in error_of(running, 409)["message"]
    assert (await client.delete(f"{cluster.base}/containers/{name}?force=true")).status_code == 204
    assert (
        error_of(await client.get(f"{cluster.base}/containers/{cid}"), 404)["code"] == "not_found"
    )
    assert (await client.delete(f"{cluster.base}/volumes/{volume}")).status_code == 204

    await check_audit(cluster, cid, name, secret)


async def check_exec(client: httpx.AsyncClient, url: str) -> None:
    script = "echo $GREETING; echo oops >&2; echo stored > /data/f; printf '\\377'; exit 3"
    done = (await client.post(url, json={"cmd": ["sh", "-c", script]})).json()
    assert done == {
        "exit_code": 3,
        "stdout": "hi there\n\ufffd",
        "stderr": "oops\n",
        "timed_out": False,
        "truncated": False,
    }
    options = {"cmd": ["sh", "-c", "pwd; id -u; echo $X; cat f"], "env": {"X": "y"}}
    options |= {"workdir": "/data", "user": "65534"}
    assert (await client.post(url, json=options)).json()["stdout"] == "/data\n65534\ny\nstored\n"
    started = time.monotonic()
    slow = (await client.post(url, json={"cmd": ["sleep", "30"], "timeout": 0.5})).json()
    assert slow["timed_out"] is True and slow["exit_code"] is None
    assert time.monotonic() - started < 10
    missing = (await client.post(url, json={"cmd": ["/no/such/program"]})).json()
    assert missing["exit_code"] not in (None, 0)


async def check_audit(cluster: Cluster, container_id: str, name: str, secret: str) -> None:
    async with cluster.store() as store:
        entries = await store.list_audit(target_node=cluster.node.node_id, limit=1000)
    mine = [e for e in entries if e.target in (container_id, name)]
    actions = {e.action: e for e in mine}
    assert {"container.create", "container.exec", "container.remove"} <= set(actions)
    create = actions["container.create"]
    assert create.result == "ok" and create.actor.startswith(("user:", "token:"))
    assert create.params is not None and create.params["env_keys"] == ["API_TOKEN", "GREETING"]
    assert all(secret not in json.dumps(e.params) for e in entries)
    failed = [e for e in mine if e.action == "container.remove" and e.result != "ok"]
    assert failed and failed[0].result == "error: conflict"


async def test_lifecycle_actions_report_the_state_after(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    created = await create(client, cluster, cleanup, cmd=["sleep", "300"])
    url = f"{cluster.base}/containers/{created['name']}"
    assert (await client.get(url)).json()["state"] == "created"

    async def act(action: str, **params: Any) -> dict[str, Any]:
        response = await client.post(f"{url}/{action}", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["id"] == created["id"] and body["action"] == action
        assert body["node_id"] == cluster.node.node_id
        return body

    assert (await act("start"))["state"] == "running"
    assert (await act("pause"))["state"] == "paused"
    error_of(await client.post(f"{url}/pause"), 409)
    assert (await act("unpause"))["state"] == "running"
    first_start = (await client.get(url)).json()["started_at"]
    assert (await act("restart", timeout=1))["state"] == "running"
    assert (await client.get(url)).json()["started_at"] != first_start
    started = time.monotonic()
    assert (await act("stop", timeout=1))["state"] == "exited"
    assert time.monotonic() - started < 10
    error_of(await client.post(f"{url}/kill"), 409)  # not running
    assert (await act("start"))["state"] == "running"
    assert (await act("kill", signal="9"))["state"] == "exited"
    assert (await client.get(url)).json()["exit_code"] == 137
    assert (await client.delete(url)).status_code == 204


async def test_kill_delivers_the_signal(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    script = "trap 'exit 3' USR1; while true; do sleep 0.1; done"
    created = await create(client, cluster, cleanup, cmd=["sh", "-c", script], start=True)
    url = f"{cluster.base}/containers/{created['id'][:16]}"
    for bad in ("SIGNOPE", "0", "65", "KILL;rm", ""):
        error = error_of(await client.post(f"{url}/kill", params={"signal": bad}), 422)
        assert error["fields"][0]["field"] == "query.signal", bad
    killed = await client.post(f"{url}/kill", params={"signal": "usr1"})
    assert killed.status_code == 200, killed.text

    async def exited() -> dict[str, Any] | None:
        details: dict[str, Any] = (await client.get(url)).json()
        return details if details["state"] == "exited" else None

    details = await eventually(exited, what="the trap to end the container")
    assert details is not None and details["exit_code"] == 3
    assert (await client.delete(url)).status_code == 204


async def test_references_ambiguous_and_unknown(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    by_first: dict[str, list[str]] = {}
    while not any(len(ids) > 1 for ids in by_first.values()):
        created = await create(client, cluster, cleanup, cmd=["true"])
        by_first.setdefault(created["id"][0], []).append(created["id"])
    prefix, ids = next((p, ids) for p, ids in by_first.items() if len(ids) > 1)

    async def cached() -> bool:
        rows = (await client.get(f"{cluster.base}/containers", params={"q": prefix})).json()
        return set(ids) <= {c["id"] for c in rows["containers"]}

    await eventually(cached, what="the new containers in the fleet cache")
    # An id prefix needs 4 characters: shorter ones name nothing, ambiguous or not, and are
    # not handed to the engine (which would take them). 4-character ambiguity (409
    # ambiguous_ref with the candidates) needs colliding ids: tests/web/test_refs_api.py.
    for short in (prefix, ids[0][:3]):
        for method, path in (("GET", short), ("POST", f"{short}/start"), ("DELETE", short)):
            response = await client.request(method, f"{cluster.base}/containers/{path}")
            assert error_of(response, 404)["code"] == "not_found"
    assert await cached(), "a short prefix removed a container"
    found = await client.get(f"{cluster.base}/containers/{ids[0][:12]}")
    assert found.status_code == 200 and found.json()["id"] == ids[0]
    # Images too: the busybox image is in use by the containers above, so even an engine that
    # took the prefix would refuse to remove it.
    images = (await client.get(f"{cluster.base}/images")).json()["images"]
    image_id = next(i["id"] for i in images if BUSYBOX in i["repo_tags"])
    short_image = image_id.removeprefix("sha256:")[:3]
    refused = await client.delete(f"{cluster.base}/images/{short_image}")
    assert error_of(refused, 404)["code"] == "not_found"

    unknown = unique_name("missing")
    for response in (
        await client.get(f"{cluster.base}/containers/{unknown}"),
        await client.get(f"{cluster.base}/containers/{unknown}/top"),
        await client.post(f"{cluster.base}/containers/{unknown}/start"),
        await client.post(f"{cluster.base}/containers/{unknown}/stop"),
        await client.post(f"{cluster.base}/containers/{unknown}/exec", json={"cmd": ["true"]}),
        await client.delete(f"{cluster.base}/containers/{unknown}"),
        await client.get(f"{cluster.base}/containers/-bad"),
        await client.get(f"{cluster.base}/containers/%20x"),
        await client.get(f"{cluster.base}/containers/{'a' * 300}"),
        await client.post(f"{cluster.base}/containers/..%2Fx/start"),
        await client.get("/api/v1/nodes/no-such-node/containers/x"),
        await client.post("/api/v1/nodes/no-such-node/containers", json={"image": BUSYBOX}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"

    stopped = ids[0]
    error_of(await client.get(f"{cluster.base}/containers/{stopped}/top"), 409)
    exec_url = f"{cluster.base}/containers/{stopped}/exec"
    error_of(await client.post(exec_url, json={"cmd": ["true"]}), 409)


PORT = {"container_port": 80}


def bad(fields: str, **body: Any) -> tuple[dict[str, Any], set[str]]:
    """A create body (busybox unless ``image`` is given) and the fields it gets wrong."""
    return {"image": BUSYBOX, **body}, set(fields.split())


BAD_CREATE_BODIES = [
    ({}, {"image"}),
    bad("image", image=""),
    bad("image", image="bad image"),
    bad("image", image=["x"]),
    bad("name", name="-leading-dash"),
    bad("name", name="has space"),
    bad("name", name=7),
    bad("cmd", cmd="sleep 1"),
    bad("cmd.0 cmd.1", cmd=[1, 2]),
    bad("env", env={"A=B": "x"}),
    bad("env.A", env={"A": 1}),
    bad("ports.0.container_port", ports=[{"container_port": 0}]),
    bad("ports.0.container_port", ports=[{"container_port": 65536}]),
    bad("ports.0.container_port", ports=[{"container_port": "80"}]),
    bad("ports.0.host_port", ports=[{**PORT, "host_port": 70000}]),
    bad("ports.0.protocol", ports=[{**PORT, "protocol": "icmp"}]),
    bad("ports.0.host_ip", ports=[{**PORT, "host_ip": "localhost"}]),
    bad("ports.0.extra", ports=[{**PORT, "extra": 1}]),
    bad("mounts.0.target", mounts=[{"source": "v", "target": "relative"}]),
    bad("mounts.0.type", mounts=[{"source": "v", "target": "/x", "type": "tmpfs"}]),
    bad("mounts.0.source", mounts=[{"target": "/x"}]),
    bad("restart_policy", restart_policy="sometimes"),
    bad("restart_max_retries", restart_max_retries=2),
    bad("restart_max_retries", restart_policy="on-failure", restart_max_retries=-1),
    bad("cpus", cpus=0),
    bad("cpus", cpus=-1.5),
    bad("memory", memory="lots"),
    bad("memory", memory=1024),
    bad("memory", memory="-5m"),
    bad("tty", tty="yes"),
    bad("start", start=1),
    bad("working_dir", working_dir="relative"),
    bad("hostname", hostname="bad_host"),
    bad("network", network="bad net"),
    bad("privileged", privileged=True),
]


async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    url = f"{cluster.base}/containers"
    for body, fields in BAD_CREATE_BODIES:
        error = error_of(await client.post(url, json=body), 422)
        assert error["code"] == "invalid_input"
        assert fields <= {f["field"] for f in error["fields"]}, (body, error)
        assert all(f["message"] for f in error["fields"])
    not_json = await client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422

    missing = error_of(await client.post(url, json={"image": "docklord-test/nope:1"}), 404)
    assert "docklord-test/nope:1" in missing["message"] and "pull" in missing["message"]
    created = await create(client, cluster, cleanup, cmd=["sleep", "300"], start=True)
    taken = await client.post(url, json={"image": BUSYBOX, "name": created["name"]})
    assert error_of(taken, 409)["code"] == "conflict"
    unstartable = unique_name("c")
    cleanup.append(unstartable)
    body = {"image": BUSYBOX, "name": unstartable, "cmd": ["/no/such/program"], "start": True}
    refused = error_of(await client.post(url, json=body), 422)  # the engine's 400
    assert "/no/such/program" in refused["message"]
    gone = await client.get(f"{url}/{unstartable}")
    assert gone.status_code == 404  # a container that cannot start is not left behind

    ref = f"{url}/{created['name']}"
    bad_requests = [
        client.post(f"{ref}/stop", params={"timeout": 601}),
        client.post(f"{ref}/stop", params={"timeout": -1}),
        client.post(f"{ref}/restart", params={"timeout": "soon"}),
        client.get(f"{ref}/top", params={"ps_args": "aux; rm -rf /"}),
        client.post(f"{ref}/exec", json={"cmd": []}),
        client.post(f"{ref}/exec", json={"cmd": [""]}),
        client.post(f"{ref}/exec", json={"cmd": "ls"}),
        client.post(f"{ref}/exec", json={"cmd": ["ls"], "timeout": 0}),
        client.post(f"{ref}/exec", json={"cmd": ["ls"], "timeout": 3601}),
        client.post(f"{ref}/exec", json={"cmd": ["ls"], "workdir": "tmp"}),
        client.post(f"{ref}/exec", json={"cmd": ["ls"], "shell": True}),
        client.get(ref, params={"raw": "perhaps"}),
        client.delete(ref, params={"force": "maybe"}),
    ]
    for pending in bad_requests:
        response = await pending
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"]
    assert (await client.delete(f"{ref}?force=true")).status_code == 204


async def test_viewer_sees_but_may_not_act(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str]
) -> None:
    created = await create(
        client, cluster, cleanup, cmd=["sleep", "300"], env={"PASSWORD": "hunter2"}
    )
    username, password = unique_name("viewer"), secrets.token_urlsafe(12)
    async with cluster.store() as store:
        await store.create_user(username, password, "viewer")
    token = cluster.coordinator.login(username, password)
    url = f"{cluster.base}/containers/{created['name']}"
    async with api(cluster.coordinator, token) as viewer:
        details = (await viewer.get(url)).json()
        assert details["config"]["env"]["PASSWORD"] == "***"
        assert error_of(await viewer.get(url, params={"raw": "true"}), 403)["code"] == "forbidden"
        for response in (
            await viewer.post(f"{url}/start"),
            await viewer.delete(url),
            await viewer.post(f"{url}/exec", json={"cmd": ["true"]}),
            await viewer.post(f"{cluster.base}/containers", json={"image": BUSYBOX}),
        ):
            assert error_of(response, 403)["code"] == "forbidden"
    assert (await client.get(url)).json()["state"] == "created"


async def test_bind_mounts_of_host_paths_are_for_admins_only(
    client: httpx.AsyncClient, cluster: Cluster, cleanup: list[str], tmp_path: Path
) -> None:
    (tmp_path / "shared.txt").write_text("from the host\n")
    bind = {"source": str(tmp_path), "target": "/host", "type": "bind", "read_only": True}
    username, password = unique_name("operator"), secrets.token_urlsafe(12)
    async with cluster.store() as store:
        await store.create_user(username, password, "operator")
    name = unique_name("c")
    cleanup.append(name)
    body = {"image": BUSYBOX, "name": name, "labels": {TEST_LABEL: TEST_RUN}, "mounts": [bind]}
    async with api(cluster.coordinator, cluster.coordinator.login(username, password)) as op:
        refused = error_of(await op.post(f"{cluster.base}/containers", json=body), 403)
        assert refused["code"] == "forbidden" and "named volume" in refused["message"]
        volume = {**bind, "source": unique_name("vol"), "type": "volume"}
        cleanup.append(volume["source"])
        as_volume = {**body, "mounts": [volume]}
        assert (await op.post(f"{cluster.base}/containers", json=as_volume)).status_code == 201
        assert (await op.delete(f"{cluster.base}/containers/{name}")).status_code == 204

    audit = await client.get(
        "/api/v1/audit", params={"actor": f"user:{username}", "action": "container.create"}
    )
    assert [e["result"] for e in audit.json()["entries"]] == ["ok", "error: forbidden"]

    reads = {"cmd": ["cat", "/host/shared.txt"], "mounts": [bind], "start": True}
    await create(client, cluster, cleanup, name=name, **reads)

    async def printed() -> bool:
        logs = await client.get(f"{cluster.base}/containers/{name}/logs")
        return "from the host" in logs.text

    await eventually(printed, what="the container read the host file")
    mounts = (await client.get(f"{cluster.base}/containers/{name}")).json()["mounts"]
    assert [(m["type"], m["source"], m["target"]) for m in mounts] == [
        ("bind", str(tmp_path), "/host")
    ]
