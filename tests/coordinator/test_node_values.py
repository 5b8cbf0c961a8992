"""What a node reports is held to the protocol's limits before anyone is served it (in process).

The coordinator app runs through ``httpx.ASGITransport``; simulated nodes link over in-memory
transports and report what a broken or hostile node would.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator
from docklord.link import Transport, memory_pair
from docklord.protocol import MAX_MAP_ENTRIES, MAX_MAP_VALUE, ContainerSummary, PortBinding
from docklord.testing import SimulatedNode, eventually
from docklord.web import create_app

ADMIN = "admin-test-password"
SECRET = "n" * 43


@pytest.fixture
async def coordinator(tmp_path: Path) -> AsyncIterator[Coordinator]:
    config = CoordinatorConfig(
        data_dir=str(tmp_path), registration="open", admin_password=ADMIN, grpc_port=0
    )
    async with Coordinator(config, announce=lambda _: None) as coordinator:
        yield coordinator


@pytest.fixture
async def in_memory(coordinator: Coordinator) -> AsyncIterator[Callable[[], Awaitable[Transport]]]:
    """Makes in-memory links to the coordinator; their handlers end before it closes."""
    tasks: list[asyncio.Task[None]] = []

    async def connect() -> Transport:
        node_end, coordinator_end = memory_pair(names=("10.0.0.9:4000", "coordinator"))
        tasks.append(asyncio.create_task(coordinator.links.serve(coordinator_end)))
        return node_end

    yield connect
    await coordinator.links.aclose()
    await asyncio.gather(*tasks)


@pytest.fixture
async def client(coordinator: Coordinator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(coordinator))
    async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as c:
        login = await c.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN})
        c.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield c


async def _linked(node: SimulatedNode) -> asyncio.Task[None]:
    task = asyncio.create_task(node.run())
    linked = asyncio.ensure_future(node.linked.wait())
    await asyncio.wait({task, linked}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # the node failed: say why
    assert node.linked.is_set(), "the simulated node did not link within 10 s"
    linked.cancel()
    return task


def broken_summary(i: int, **fields: object) -> ContainerSummary:
    return ContainerSummary(
        id=f"{i:064x}",
        name=f"broken-{i}",
        image="img",
        state="running",
        **fields,  # type: ignore[arg-type]
    )


async def test_non_finite_and_out_of_range_numbers_do_not_break_the_fleet_list(
    in_memory: Callable[[], Awaitable[Transport]], client: httpx.AsyncClient
) -> None:
    summaries = [
        broken_summary(1, created=math.nan, started_at=math.inf, finished_at=-math.inf),
        broken_summary(2, created=1e300, started_at=-5.0),
        broken_summary(3, created=1_700_000_000.0, ports=[PortBinding(private_port=70000)]),
        broken_summary(
            4, created=1_700_000_000.0, ports=[PortBinding(private_port=80, host_port=99999)]
        ),
    ]
    node = SimulatedNode("", "nan-node", SECRET, summaries=summaries, connect=in_memory)
    task = await _linked(node)
    try:

        async def listed() -> list[dict[str, object]]:
            response = await client.get("/api/v1/containers", params={"node": "nan-node"})
            assert response.status_code == 200, response.text
            rows = response.json()["containers"]
            assert len(rows) == 4
            return rows  # type: ignore[no-any-return]

        rows = {row["name"]: row for row in await eventually(listed)}
        assert rows["broken-1"]["created"] == "1970-01-01T00:00:00Z"
        assert rows["broken-1"]["started_at"] is None and rows["broken-1"]["finished_at"] is None
        assert rows["broken-2"]["created"] == "1970-01-01T00:00:00Z"
        assert rows["broken-2"]["started_at"] is None
        assert rows["broken-3"]["ports"] == []
        assert [p["host_port"] for p in rows["broken-4"]["ports"]] == [None]  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_oversized_node_strings_are_bounded(
    coordinator: Coordinator,
    in_memory: Callable[[], Awaitable[Transport]],
    client: httpx.AsyncClient,
) -> None:
    labels = {f"k{i}": "v" * (MAX_MAP_VALUE + 10) for i in range(MAX_MAP_ENTRIES + 50)}
    labels["x" * 5000] = "long key"
    summary = broken_summary(5, created=1_700_000_000.0, labels=labels, command="c" * 10**6)
    node = SimulatedNode(
        "",
        "big-node",
        SECRET,
        summaries=[summary],
        hostname="h" * 10_000_000,
        engine_message="m" * 5_000_000,
        connect=in_memory,
    )
    task = await _linked(node)
    try:

        async def listed() -> httpx.Response:
            response = await client.get("/api/v1/nodes")
            assert response.status_code == 200
            assert any(n["status"] == "online" for n in response.json()["nodes"])
            return response

        nodes = await eventually(listed)
        assert len(nodes.content) < 50_000
        (row,) = nodes.json()["nodes"]
        assert row["hostname"] == "h" * 255
        assert row["engine"]["message"] == "m" * 4096
        containers = await client.get("/api/v1/containers", params={"node": "big-node"})
        (container,) = containers.json()["containers"]
        assert len(container["labels"]) == MAX_MAP_ENTRIES
        assert all(
            len(k) <= 1024 and len(v) <= MAX_MAP_VALUE for k, v in container["labels"].items()
        )
        assert len(container["command"]) == 4096
        assert len(json.dumps(container)) < MAX_MAP_ENTRIES * (MAX_MAP_VALUE + 64)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def stored() -> bool:  # written when the link ends
        return (await coordinator.store.get_node("big-node")).hostname == "h" * 255

    await eventually(stored, what="the bounded host name stored")
