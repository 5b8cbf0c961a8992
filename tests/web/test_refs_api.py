"""Container refs through the API, in-process: a simulated node's crafted ids over the
in-memory link, the coordinator app through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator
from docklord.errors import NotFound
from docklord.link import Transport, memory_pair
from docklord.protocol import docklord_pb2 as pb
from docklord.testing import SimulatedNode
from docklord.web import create_app

NODE = "node-refs"
DB = "abcd" + "1" * 60
WEB = "abcd" + "2" * 60
SOLO = "ef01" + "3" * 60


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, httpx.AsyncClient]]:
    config = CoordinatorConfig(
        data_dir=str(tmp_path / "data"),
        grpc_port=0,
        admin_password="admin-test-password",
        registration="open",
    )
    async with Coordinator(config, announce=lambda _: None) as coordinator:
        admin = await coordinator.store.get_user_by_name("admin")
        _, token = await coordinator.store.create_token(admin.id, "test")
        serving: list[asyncio.Task[None]] = []

        async def connect() -> Transport:
            node_end, coordinator_end = memory_pair()
            serving.append(asyncio.create_task(coordinator.links.serve(coordinator_end)))
            return node_end

        summaries = [
            pb.ContainerSummary(id=cid, name=name, image="x", state="running")
            for cid, name in ((DB, "db"), (WEB, "web"), (SOLO, "solo"))
        ]
        node = SimulatedNode("", NODE, "p" * 24, summaries=summaries, connect=connect)
        run = asyncio.create_task(node.run())
        transport = httpx.ASGITransport(app=create_app(coordinator))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            await asyncio.wait_for(node.linked.wait(), 10)
            while len(coordinator.fleet.node(NODE).containers) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            yield coordinator, client
        run.cancel()
        await asyncio.gather(run, *serving, return_exceptions=True)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_short_prefixes_are_unknown_and_ambiguous_refs_answer_409(
    api: tuple[Coordinator, httpx.AsyncClient],
) -> None:
    # One test for both: a coordinator takes seconds to start on a busy machine.
    coordinator, client = api
    base = f"/api/v1/nodes/{NODE}/containers"
    # "ef0" is a unique prefix of SOLO, "abc" an ambiguous one: both are too short to count.
    for ref in ("ef0", "abc", "e"):
        for method, path in (("GET", ref), ("DELETE", ref), ("POST", f"{ref}/kill")):
            error = _error(await client.request(method, f"{base}/{path}"), 404)
            assert error["code"] == "not_found", (method, path)
        with pytest.raises(NotFound):
            coordinator.container_ref(NODE, ref)  # not handed to the engine to resolve
    assert coordinator.container_ref(NODE, "ef01") == SOLO
    assert coordinator.container_ref(NODE, "db") == DB  # a short name still matches

    for method, path in (("DELETE", "abcd"), ("POST", "abcd/kill"), ("POST", "abcd/stop")):
        error = _error(await client.request(method, f"{base}/{path}"), 409)
        assert error["code"] == "ambiguous_ref", (method, path)
        assert error["details"] == {
            "matches": [
                {"node_id": NODE, "id": DB, "name": "db"},
                {"node_id": NODE, "id": WEB, "name": "web"},
            ],
            "count": 2,
        }
