"""Instance records left at ``creating`` by a coordinator crash are settled on the next start.

The crash is reproduced exactly by writing what it leaves into the store of the stopped
coordinator: one record whose container the node made (the crash came before the record was
completed) and one record whose container was never made (the crash came before the node's
work). After the restart the node links, and the coordinator settles both from what the node
reports: the first is completed, the second is removed and its user's slot is free again.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from docklord.testing import CoordinatorProcess, NodeProcess, eventually, unique_name

from .conftest import api, database_url_of, started_coordinator, store_of, wait_online

pytestmark = pytest.mark.e2e

KEY = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    .decode()
)


@pytest.fixture
def linked(
    tmp_path: Path, docker_host: str, instance_image: str
) -> Iterator[tuple[CoordinatorProcess, NodeProcess]]:
    base = 25_000 + secrets.randbelow(400) * 10
    with started_coordinator(tmp_path / "coordinator") as coordinator:
        node = NodeProcess(
            [coordinator.ws_url],
            unique_name("node"),
            secrets.token_urlsafe(16),
            docker_host=docker_host,
            workdir=tmp_path / "node",
            extra_args=["--instance-host-ip=127.0.0.1", f"--instance-port-base={base}"],
        )
        node.workdir.mkdir()
        node.start()
        try:
            yield coordinator, node
        finally:
            node.stop()
            print(f"--- node log ---\n{node.log()[-10000:]}")


async def _uncomplete(coordinator: CoordinatorProcess, instance_id: str) -> None:
    """What a crash between the node's work and ``complete_instance`` leaves in the store."""
    sqlite = f"sqlite+aiosqlite:///{coordinator.workdir / 'data' / 'docklord.db'}"
    engine = create_async_engine(database_url_of(coordinator) or sqlite)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE instances SET container_id = NULL, port_base = NULL WHERE id = :i"),
                {"i": instance_id},
            )
    finally:
        await engine.dispose()


async def _instances(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    rows = (await client.get("/api/v1/instances", params={"all": "true"})).json()["instances"]
    return {i["id"]: i for i in rows}


async def test_instances_left_at_creating_are_settled_on_restart(
    linked: tuple[CoordinatorProcess, NodeProcess],
) -> None:
    coordinator, node = linked
    async with api(coordinator, coordinator.login()) as admin:
        admin.timeout = httpx.Timeout(90)
        await wait_online(admin, node.node_id)
        made = await admin.post(
            "/api/v1/instances", json={"ssh_public_key": KEY, "node": node.node_id}
        )
        assert made.status_code == 201, made.text
        done = made.json()["data"]
    try:
        await _restart_with_leftovers(coordinator, node, done)
    finally:
        subprocess.run(
            ["docker", "rm", "-f", f"docklord-instance-{done['id']}"],
            capture_output=True,
            check=False,
        )


async def _restart_with_leftovers(
    coordinator: CoordinatorProcess, node: NodeProcess, done: dict[str, Any]
) -> None:
    coordinator.stop()
    await _uncomplete(coordinator, done["id"])
    bob_password = secrets.token_urlsafe(12)
    async with store_of(coordinator) as store:
        bob = await store.create_user(unique_name("bob"), bob_password, "viewer")
        never = await store.reserve_instance(bob.id, node.node_id, KEY)
        stuck = {i.id for i in await store.list_unfinished_instances()}
    assert stuck == {done["id"], never.id}

    coordinator.start()
    coordinator.wait_ready()
    async with api(coordinator, coordinator.login()) as admin:
        admin.timeout = httpx.Timeout(90)

        async def settled() -> bool:
            found = await _instances(admin)
            return never.id not in found and found[done["id"]]["containerId"] is not None

        await eventually(settled, timeout=30, what="the leftover instance records settled")
        found = (await _instances(admin))[done["id"]]
        assert found["containerId"] == done["containerId"]
        assert found["ports"] == done["ports"]
        assert found["state"] == "running"
        log = coordinator.log()
        assert "instance reconciled: its container exists" in log
        assert "instance removed: its container was never made or never started" in log

        # Bob's slot on the node is free again: he gets an instance there.
        async with api(coordinator, coordinator.login(bob.username, bob_password)) as client:
            client.timeout = httpx.Timeout(90)
            again = await client.post(
                "/api/v1/instances", json={"ssh_public_key": KEY, "node": node.node_id}
            )
            assert again.status_code == 201, again.text
            deleted = await client.delete(f"/api/v1/instances/{again.json()['data']['id']}")
            assert deleted.status_code == 200, deleted.text
        deleted = await admin.delete(f"/api/v1/instances/{done['id']}")
        assert deleted.status_code == 200, deleted.text
