"""Images, volumes and networks of a node through the coordinator (real processes and engine).

Also: every node-scoped route of containers and resources answers 503 at once for an
offline node.
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from docklord.testing import TEST_LABEL, TEST_RUN, NodeProcess, eventually, unique_name

from .conftest import Cluster, wait_online
from .test_containers import BUSYBOX, error_of

pytestmark = pytest.mark.e2e

PRUNE_LABEL = "docklord.test.prune"
PROGRESS_KEYS = {"status", "id", "progress_current", "progress_total"}


@pytest.fixture
def leftovers(docker_host: str) -> Iterator[list[tuple[str, str]]]:
    """``(kind, ref)`` pairs to remove straight on the engine after the test."""
    made: list[tuple[str, str]] = []
    yield made
    commands = {"container": ["rm", "-f", "-v"], "image": ["rmi", "-f"]}
    commands |= {"volume": ["volume", "rm", "-f"], "network": ["network", "rm"]}
    for kind, ref in made:
        subprocess.run(["docker", *commands[kind], ref], capture_output=True, check=False)


def import_image(marker: str, repository: str = "") -> str:
    """A one-file labelled image made with ``docker import``; untagged (dangling) by default."""
    data = f"{marker} {repository}\n".encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    labels = ["-c", f"LABEL {TEST_LABEL}={TEST_RUN}", "-c", f"LABEL {PRUNE_LABEL}={marker}"]
    done = subprocess.run(
        ["docker", "import", *labels, "-", *([repository] if repository else [])],
        input=archive.getvalue(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode().strip()


async def tags_of(client: httpx.AsyncClient, cluster: Cluster) -> set[str]:
    images = (await client.get(f"{cluster.base}/images")).json()["images"]
    return {tag for image in images for tag in image["repo_tags"]}


async def pull(client: httpx.AsyncClient, url: str, image: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    async with client.stream("POST", url, json={"image": image}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        async for line in response.aiter_lines():
            if line.strip():
                lines.append(json.loads(line))
    return lines


async def test_images_list_pull_and_remove(
    client: httpx.AsyncClient, cluster: Cluster, registry: str, leftovers: list[tuple[str, str]]
) -> None:
    base = f"{cluster.base}/images"
    images = (await client.get(base)).json()["images"]
    local = next(i for i in images if BUSYBOX in i["repo_tags"])
    assert local["id"].startswith("sha256:") and local["size"] > 0
    assert local["created"].endswith("Z")

    image = f"{registry}/docklord-test/busybox:latest"
    leftovers.append(("image", image))
    lines = await pull(client, f"{base}/pull", image)
    assert lines[-1] == {"status": "done", "image": image}
    assert lines[:-1] and all(set(line) == PROGRESS_KEYS for line in lines[:-1])
    assert any(image in line["status"] for line in lines[:-1])  # "Status: ... for <image>"
    assert {image, BUSYBOX} <= await tags_of(client, cluster)

    removed = await client.delete(f"{base}/{image}")
    assert removed.status_code == 200, removed.text
    assert image in removed.json()["deleted"]
    tags = await tags_of(client, cluster)
    assert image not in tags and BUSYBOX in tags
    assert error_of(await client.delete(f"{base}/{image}"), 404)["code"] == "not_found"

    missing = f"{registry}/docklord-test/no-such-image:1"
    failed = await client.post(f"{base}/pull", json={"image": missing})
    assert error_of(failed, 404)["code"] == "not_found"
    for body in ({"image": "bad ref!"}, {"image": ""}, {}, {"image": BUSYBOX, "tag": "x"}):
        error = error_of(await client.post(f"{base}/pull", json=body), 422)
        assert error["fields"], body
    for bad_ref in ("-x", "a/../b", "x%20y"):
        # The request target goes out as written: a client would resolve "a/../b" to "b", which
        # may be a unique prefix of some image's id that this test did not make.
        target = f"{httpx.URL(base).raw_path.decode()}/{bad_ref}".encode()
        refused = await client.delete(base, extensions={"target": target})
        assert error_of(refused, 404)["code"] == "not_found"


async def test_image_prune_by_label(
    client: httpx.AsyncClient, cluster: Cluster, leftovers: list[tuple[str, str]]
) -> None:
    marker = unique_name("prune")
    dangling = import_image(marker)
    tagged_ref = f"docklord-test/{marker}:1"
    tagged = import_image(marker, tagged_ref)
    leftovers.extend([("image", dangling), ("image", tagged)])
    url = f"{cluster.base}/images/prune"
    only = {"label": f"{PRUNE_LABEL}={marker}"}

    pruned = (await client.post(url, params=only)).json()
    assert dangling in pruned["deleted"] and tagged not in pruned["deleted"]
    assert pruned["space_reclaimed"] >= 0
    assert pruned["node_id"] == cluster.node.node_id
    assert tagged_ref in await tags_of(client, cluster)

    unused = (await client.post(url, params={**only, "dangling": "false"})).json()
    assert tagged_ref in unused["deleted"] and tagged in unused["deleted"]
    error_of(await client.post(url, params={"dangling": "sometimes"}), 422)
    error_of(await client.post(url, params={"label": ""}), 422)


async def test_volumes_create_list_remove_prune(
    client: httpx.AsyncClient, cluster: Cluster, leftovers: list[tuple[str, str]]
) -> None:
    url = f"{cluster.base}/volumes"
    name, marker = unique_name("vol"), unique_name("prune")
    labels = {TEST_LABEL: TEST_RUN, PRUNE_LABEL: marker}
    leftovers.append(("volume", name))
    made = await client.post(url, json={"name": name, "labels": labels})
    assert made.status_code == 201, made.text
    volume = made.json()
    assert (volume["name"], volume["driver"], volume["labels"]) == (name, "local", labels)
    assert volume["node_id"] == cluster.node.node_id and volume["created"].endswith("Z")
    assert (await client.post(url, json={"name": name, "labels": labels})).json()["name"] == name
    anonymous = (await client.post(url, json={"labels": labels})).json()["name"]
    leftovers.append(("volume", anonymous))
    assert len(anonymous) == 64
    listed = {v["name"] for v in (await client.get(url)).json()["volumes"]}
    assert {name, anonymous} <= listed

    user = unique_name("c")
    leftovers.append(("container", user))
    mount = {"source": name, "target": "/data", "type": "volume"}
    body = {"image": BUSYBOX, "name": user, "labels": {TEST_LABEL: TEST_RUN}, "mounts": [mount]}
    assert (await client.post(f"{cluster.base}/containers", json=body)).status_code == 201
    error_of(await client.delete(f"{url}/{name}"), 409)

    only = {"label": f"{PRUNE_LABEL}={marker}"}
    pruned = (await client.post(f"{url}/prune", params=only)).json()
    assert pruned["deleted"] == [anonymous]  # the named one is in use
    assert (await client.delete(f"{cluster.base}/containers/{user}")).status_code == 204
    assert (await client.delete(f"{url}/{name}")).status_code == 204
    assert error_of(await client.delete(f"{url}/{name}"), 404)["code"] == "not_found"
    assert error_of(await client.delete(f"{url}/-bad"), 404)["code"] == "not_found"

    for bad, field in [
        ({"name": "bad name"}, "name"),
        ({"name": 3}, "name"),
        ({"labels": {"": "x"}}, "labels"),
        ({"driver": "no such driver"}, "driver"),
        ({"size": 1}, "size"),
    ]:
        error = error_of(await client.post(url, json=bad), 422)
        assert field in {f["field"] for f in error["fields"]}, bad


async def test_networks_create_list_remove(
    client: httpx.AsyncClient, cluster: Cluster, leftovers: list[tuple[str, str]]
) -> None:
    url = f"{cluster.base}/networks"
    name = unique_name("net")
    leftovers.append(("network", name))
    body = {"name": name, "labels": {TEST_LABEL: TEST_RUN}, "internal": True}
    made = await client.post(url, json=body)
    assert made.status_code == 201, made.text
    network = made.json()
    assert (network["name"], network["driver"], network["scope"]) == (name, "bridge", "local")
    assert network["internal"] is True and network["labels"] == {TEST_LABEL: TEST_RUN}
    assert error_of(await client.post(url, json=body), 409)["code"] == "conflict"
    listed = {n["name"]: n for n in (await client.get(url)).json()["networks"]}
    assert listed[name]["id"] == network["id"] and {"bridge", "host", "none"} <= set(listed)

    user = unique_name("c")
    leftovers.append(("container", user))
    create: dict[str, Any] = {"image": BUSYBOX, "name": user, "network": name, "start": True}
    create |= {"cmd": ["sleep", "300"], "labels": {TEST_LABEL: TEST_RUN}}
    assert (await client.post(f"{cluster.base}/containers", json=create)).status_code == 201
    in_use = error_of(await client.delete(f"{url}/{name}"), 409)
    assert name in in_use["message"]
    removed = await client.delete(f"{cluster.base}/containers/{user}", params={"force": "true"})
    assert removed.status_code == 204
    assert (await client.delete(f"{url}/{network['id']}")).status_code == 204
    assert error_of(await client.delete(f"{url}/{name}"), 404)["code"] == "not_found"

    for bad in ({}, {"name": ""}, {"name": "x y"}, {"name": "n", "internal": "yes"}):
        assert error_of(await client.post(url, json=bad), 422)["fields"], bad


async def test_network_prune_by_label_spares_networks_in_use(
    client: httpx.AsyncClient, cluster: Cluster, leftovers: list[tuple[str, str]]
) -> None:
    url = f"{cluster.base}/networks"
    marker = unique_name("prune")
    used, unused, other = unique_name("net"), unique_name("net"), unique_name("net")
    leftovers.extend([("network", used), ("network", unused), ("network", other)])
    for name, labels in (
        (used, {PRUNE_LABEL: marker}),
        (unused, {PRUNE_LABEL: marker}),
        (other, {}),
    ):
        body = {"name": name, "labels": {TEST_LABEL: TEST_RUN, **labels}}
        assert (await client.post(url, json=body)).status_code == 201
    user = unique_name("c")
    leftovers.insert(0, ("container", user))  # removed before its network
    create = {"image": BUSYBOX, "name": user, "network": used, "labels": {TEST_LABEL: TEST_RUN}}
    create |= {"cmd": ["sleep", "300"], "start": True}  # a created container holds no network
    assert (await client.post(f"{cluster.base}/containers", json=create)).status_code == 201

    # Only ever with the test's own label: the engine is shared.
    pruned = await client.post(f"{url}/prune", params={"label": f"{PRUNE_LABEL}={marker}"})
    assert pruned.json() == {
        "node_id": cluster.node.node_id,
        "deleted": [unused],
        "space_reclaimed": 0,
    }
    listed = {n["name"] for n in (await client.get(url)).json()["networks"]}
    assert {used, other} <= listed and unused not in listed
    audit = (await client.get("/api/v1/audit", params={"action": "network.prune"})).json()
    assert audit["entries"][0]["params"] == {"labels": [f"{PRUNE_LABEL}={marker}"]}
    error_of(await client.post(f"{url}/prune", params={"label": ""}), 422)


async def test_offline_node_answers_503_at_once(
    client: httpx.AsyncClient, cluster: Cluster, tmp_path: Path, docker_host: str
) -> None:
    node = NodeProcess(
        [cluster.coordinator.ws_url],
        unique_name("node"),
        secrets.token_urlsafe(16),
        docker_host=docker_host,
        workdir=tmp_path,
    )
    node.start()
    try:
        await wait_online(client, node.node_id)
    finally:
        node.stop()

    async def offline() -> bool:
        state: dict[str, Any] = (await client.get(f"/api/v1/nodes/{node.node_id}")).json()
        return bool(state["status"] == "offline")

    await eventually(offline, what="the node offline")
    base = f"/api/v1/nodes/{node.node_id}"
    for method, path, body in [
        ("POST", "/containers", {"image": BUSYBOX}),
        ("GET", "/containers/abc", None),
        ("DELETE", "/containers/abc", None),
        ("POST", "/containers/abc/stop", None),
        ("POST", "/containers/abc/kill", None),
        ("GET", "/containers/abc/top", None),
        ("POST", "/containers/abc/exec", {"cmd": ["true"]}),
        ("GET", "/images", None),
        ("POST", "/images/pull", {"image": BUSYBOX}),
        ("DELETE", "/images/docklord-test/busybox:latest", None),
        ("POST", "/images/prune", None),
        ("GET", "/volumes", None),
        ("POST", "/volumes", {"name": "v1"}),
        ("DELETE", "/volumes/v1", None),
        ("POST", "/volumes/prune", None),
        ("GET", "/networks", None),
        ("POST", "/networks", {"name": "n1"}),
        ("DELETE", "/networks/n1", None),
        ("POST", "/networks/prune", None),
    ]:
        started = time.monotonic()
        response = await client.request(method, base + path, json=body)
        elapsed = time.monotonic() - started
        assert error_of(response, 503)["code"] == "node_offline", path
        assert elapsed < 0.5, (path, elapsed)
