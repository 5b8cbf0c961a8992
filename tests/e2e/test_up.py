"""`docklord up` outlives its local node: revoking it leaves the coordinator up and says why."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from docklord.testing import UpProcess, eventually

from .conftest import api, wait_online

pytestmark = pytest.mark.e2e

REVOKED = "was revoked; the coordinator keeps running without it"


async def _local_node(client: httpx.AsyncClient) -> str:
    rows = (await client.get("/api/v1/nodes")).json()["nodes"]
    online = [n["node_id"] for n in rows if n["status"] == "online"]
    return online[0] if online else ""


def _logged(up: UpProcess, text: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return text in up.log()

    return probe


async def test_revoking_the_local_node_keeps_up_running(tmp_path: Path, docker_host: str) -> None:
    up = UpProcess(tmp_path, docker_host=docker_host)
    up.start()
    try:
        up.wait_ready()
        async with api(up, up.login()) as client:
            node_id = await eventually(lambda: _local_node(client), what="the local node online")
            revoked = await client.delete(f"/api/v1/nodes/{node_id}")
            assert revoked.status_code == 200, revoked.text

            await eventually(_logged(up, REVOKED), what="the revoke logged")
            assert f"the local node {node_id} was revoked" in up.log()
            assert "--reset-local-node" in up.log()
            assert up.alive(), f"docklord up exited:\n{up.log()}"
            assert (await client.get("/api/v1/nodes")).status_code == 200
            assert (await client.get(f"/api/v1/nodes/{node_id}")).status_code == 404

        # A restart on the same data dir: still up, and it says why the node is off.
        up.stop()
        up.log_path.write_text("")
        up.start()
        up.wait_ready()
        await eventually(_logged(up, REVOKED), what="the revoke logged after a restart")
        async with api(up, up.login()) as client:
            assert up.alive(), f"docklord up exited after the restart:\n{up.log()}"
            assert (await client.get("/readyz")).status_code == 200
            assert await _local_node(client) == ""

        # The documented way back: a new identity, registered on first contact.
        up.stop()
        up.args.append("--reset-local-node")
        up.start()
        up.wait_ready()
        async with api(up, up.login()) as client:
            again = await eventually(lambda: _local_node(client), what="a new local node")
            await wait_online(client, again)
            assert again != node_id
        state = json.loads((up.data_dir / "node" / "node.json").read_text())
        assert state["node_id"] == again
    finally:
        up.stop()
        print(f"--- up log ---\n{up.log()[-20000:]}")
