"""The live fleet view end to end: real coordinator and node processes over a real engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from docklord.testing import TEST_LABEL, TEST_RUN, CoordinatorProcess, eventually

from .conftest import EventStream, NodeFactory, api, wait_online

pytestmark = pytest.mark.e2e


def find(containers: list[dict[str, Any]], node_id: str, name: str) -> dict[str, Any] | None:
    return next((c for c in containers if c["node_id"] == node_id and c["name"] == name), None)


def is_event(node_id: str, name: str, action: str) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m["kind"] == "event"
            and m["node_id"] == node_id
            and m["action"] == action
            and (m.get("container") or {}).get("name", m["attributes"].get("name")) == name
        )

    return match


async def test_container_changes_reach_api_and_stream_over_both_transports(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
    docker: Callable[..., str],
    open_events: Callable[..., Any],
) -> None:
    ws_node = start_node([coordinator.ws_url])
    grpc_node = start_node([coordinator.grpc_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, ws_node.node_id, grpc_node.node_id)
        stream: EventStream = await open_events(coordinator, token)
        snapshot = await stream.next()
        assert snapshot["kind"] == "snapshot"
        assert {n["node_id"] for n in snapshot["nodes"]} >= {ws_node.node_id, grpc_node.node_id}

        name = labelled_container("sh", "-c", "sleep 30; exit 3")
        started = time.monotonic()  # `docker run -d` has returned: the container runs
        pending = {ws_node.node_id, grpc_node.node_id}
        while pending:  # the two nodes' events may arrive in either order
            event = await stream.until(
                lambda m: any(is_event(n, name, "start")(m) for n in pending), wait=5
            )
            assert event["container"]["state"] == "running"
            pending.discard(event["node_id"])
        assert time.monotonic() - started < 1.0

        async def listed(state: str) -> bool:
            rows = (await client.get("/api/v1/containers", params={"q": name})).json()
            found = [find(rows["containers"], n.node_id, name) for n in (ws_node, grpc_node)]
            return all(f is not None and f["state"] == state for f in found)

        await eventually(lambda: listed("running"), timeout=1, what="running in the list")

        docker("kill", name)
        died = await stream.until(is_event(ws_node.node_id, name, "die"), wait=5)
        assert died["container"]["state"] == "exited"
        assert died["container"]["exit_code"] == 137
        await eventually(lambda: listed("exited"), timeout=1, what="exited in the list")

        docker("rm", name)
        gone = await stream.until(is_event(ws_node.node_id, name, "destroy"), wait=5)
        assert gone["removed"] is True and gone["container"] is None

        async def absent() -> bool:
            rows = (await client.get("/api/v1/containers", params={"q": name})).json()
            return rows["count"] == 0

        await eventually(absent, timeout=1, what="container gone from the list")


async def test_exit_code_of_a_container_that_exits_by_itself(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
    open_events: Callable[..., Any],
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        stream = await open_events(coordinator, token)
        await stream.next()
        name = labelled_container("sh", "-c", "exit 7")
        died = await stream.until(is_event(node.node_id, name, "die"))
        assert died["container"]["state"] == "exited"
        assert died["container"]["exit_code"] == 7
        assert died["container"]["finished_at"] is not None
        rows = (await client.get(f"/api/v1/nodes/{node.node_id}/containers")).json()
        row = find(rows["containers"], node.node_id, name)
        assert row is not None and row["exit_code"] == 7 and row["state"] == "exited"


async def test_filters_on_the_fleet_list(
    coordinator: CoordinatorProcess,
    start_node: NodeFactory,
    labelled_container: Callable[..., str],
) -> None:
    node = start_node([coordinator.ws_url])
    token = coordinator.login()
    async with api(coordinator, token) as client:
        await wait_online(client, node.node_id)
        running = labelled_container("sleep", "30")
        created = labelled_container("true", start=False)

        async def both_listed() -> bool:
            query = {"label": "docklord.test"}
            rows = (await client.get("/api/v1/containers", params=query)).json()
            names = {c["name"] for c in rows["containers"]}
            return {running, created} <= names

        await eventually(both_listed, what="both containers listed")
        only_created = (
            await client.get(
                "/api/v1/containers",
                params={
                    "state": "created",
                    "node": node.node_id,
                    "label": f"{TEST_LABEL}={TEST_RUN}",
                },
            )
        ).json()["containers"]
        names = {c["name"] for c in only_created}
        assert created in names and running not in names
        by_q = (await client.get("/api/v1/containers", params={"q": running[-8:]})).json()
        assert [c["name"] for c in by_q["containers"]] == [running]
        none = (await client.get("/api/v1/containers", params={"node": "no-such-node"})).json()
        assert none["count"] == 0


async def test_api_requires_authentication(coordinator: CoordinatorProcess) -> None:
    async with httpx.AsyncClient(base_url=coordinator.url, timeout=10) as client:
        for path in ("/api/v1/nodes", "/api/v1/containers", "/api/v1/me"):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthenticated"
        bad = await client.get("/api/v1/nodes", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        wrong = await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "wrong"}
        )
        assert wrong.status_code == 401
        malformed = await client.post("/api/v1/auth/login", json={"username": ""})
        assert malformed.status_code == 422
        fields = {f["field"] for f in malformed.json()["error"]["fields"]}
        assert {"username", "password"} <= fields
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        # /metrics needs a viewer token by default (issue 10; --metrics-public opens it).
        metrics = await client.get("/metrics")
        assert metrics.status_code == 401
        assert metrics.json()["error"]["code"] == "unauthenticated"
