"""The simulated nodes of docklord.testing link to a real coordinator like real nodes."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from docklord.testing import CoordinatorProcess, SimulatedNode

from .conftest import EventStream, api, wait_online

pytestmark = pytest.mark.e2e


async def test_simulated_nodes_show_up_and_their_events_stream(
    coordinator: CoordinatorProcess, open_events: object
) -> None:
    nodes = [
        SimulatedNode(coordinator.ws_url, f"sim-{i}-{secrets.token_hex(3)}", "pw-" + str(i) * 8)
        for i in range(3)
    ]
    tasks = [asyncio.create_task(n.run(), name=n.node_id) for n in nodes]
    try:
        token = coordinator.login()
        async with api(coordinator, token) as client:
            await wait_online(client, *(n.node_id for n in nodes))
            rows = (await client.get("/api/v1/containers", params={"q": "sim-"})).json()
            assert rows["count"] == 3 * 50
        stream: EventStream = await open_events(coordinator, token)  # type: ignore[operator]
        assert (await stream.next())["kind"] == "snapshot"
        nodes[1].emit()
        event = await stream.until(lambda m: m["kind"] == "event")
        assert event["node_id"] == nodes[1].node_id
        assert event["action"] == "pause" and event["container"]["state"] == "paused"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
