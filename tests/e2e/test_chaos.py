"""Chaos with real processes: network faults on the node link, and kill -9 at random points.

Every test prints its figures on a line starting with ``CHAOS`` (run with ``-s`` to see them);
docs/RELIABILITY.md records them. Random choices come from a seed that is printed, and that
``DOCKLORD_CHAOS_SEED`` sets to replay a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from typing import Any

import httpx
import pytest

from docklord.testing import CoordinatorProcess, TcpProxy, eventually

from .conftest import NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e


def _seed() -> int:
    seed = int(os.environ.get("DOCKLORD_CHAOS_SEED") or secrets.randbelow(2**32))
    print(f"CHAOS seed={seed}")
    return seed


def _figures(test: str, **figures: Any) -> None:
    print(f"CHAOS {test} " + json.dumps(figures, sort_keys=True))


async def _status(client: httpx.AsyncClient, node_id: str) -> str:
    return str((await client.get(f"/api/v1/nodes/{node_id}")).json()["status"])


async def test_blackholed_link_fails_requests_fast_and_heals(
    coordinator: CoordinatorProcess, start_node: NodeFactory
) -> None:
    with TcpProxy("127.0.0.1", coordinator.port) as proxy:
        node = start_node([f"ws://127.0.0.1:{proxy.port}"])
        async with api(coordinator, coordinator.login()) as client:
            await wait_online(client, node.node_id)
            images = f"/api/v1/nodes/{node.node_id}/images"
            assert (await client.get(images)).status_code == 200

            proxy.blackhole()
            cut = time.monotonic()
            # A request under way when the link goes silent: it fails when the loss is seen.
            in_flight = asyncio.create_task(client.get(images, timeout=60))

            async def offline() -> bool:
                return await _status(client, node.node_id) == "offline"

            await eventually(offline, timeout=15, interval=0.01, what="the loss detected")
            detected = time.monotonic()
            answer = await asyncio.wait_for(in_flight, 5)
            failed = time.monotonic()
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] in ("node_offline", "link_closed", "link_error")
            late = failed - detected
            assert late <= 1.0, f"the in-flight request failed {late:.3f}s after detection"

            asked = time.monotonic()
            after = await client.get(images)
            new_request = time.monotonic() - asked
            assert after.status_code == 503 and after.json()["error"]["code"] == "node_offline"
            assert new_request <= 1.0

            proxy.heal()
            healed = time.monotonic()
            await wait_online(client, node.node_id)
            back = time.monotonic()
            assert (await client.get(images)).status_code == 200
    _figures(
        "blackhole",
        detection_s=round(detected - cut, 3),
        in_flight_fail_after_detection_s=round(max(failed - detected, 0.0), 3),
        new_request_503_s=round(new_request, 3),
        time_to_heal_s=round(back - healed, 3),
        ping_interval_s=2.0,
        dead_after_s=5.0,
    )
