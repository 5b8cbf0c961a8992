"""The in-process alerting harness of tests/coordinator/test_alert*.py.

A real coordinator (SQLite, no listeners, no node) behind httpx's ASGI transport, one node
``n1`` with one container in its fleet cache, and a real webhook receiver on 127.0.0.1; the
fleet is fed the way node links feed it (``apply_events``, ``apply_stats``, status changes).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from docklord.config import CoordinatorConfig
from docklord.coordinator import Coordinator, NodeState, NodeStatus
from docklord.model import ContainerSummary
from docklord.protocol import docklord_pb2 as pb
from docklord.protocol import summary_to_proto
from docklord.testing import WebhookReceiver, eventually
from docklord.web import create_app

PASSWORD = "alerts-test-password"  # noqa: S105 - throw-away in-process coordinator
SECRET_PATH = "/services/T000/B000/s3cr3t-hook-token"
CID = "d" * 64
SEQ = itertools.count(1)


@dataclass
class App:
    coordinator: Coordinator
    client: httpx.AsyncClient
    hooks: WebhookReceiver
    admin: dict[str, str]

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/api/v1/alerts{path}", json=body, headers=self.admin)

    async def channel(self, path: str, **extra: Any) -> int:
        body = {"name": path.strip("/"), "url": self.hooks.url(path), "backoff": 0.05, **extra}
        response = await self.post("/channels", body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def rule(self, kind: str, channels: list[int], **fields: Any) -> int:
        body = {"name": f"{kind}-{next(SEQ)}", "kind": kind, "channels": channels, **fields}
        response = await self.post("/rules", body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def alerts(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/alerts", params=params, headers=self.admin)
        assert response.status_code == 200, response.text
        return list(response.json()["alerts"])


@asynccontextmanager
async def alerting_app(tmp_path: Path) -> AsyncIterator[App]:
    config = CoordinatorConfig(data_dir=str(tmp_path), grpc_port=0, admin_password=PASSWORD)
    async with (
        Coordinator(config, announce=lambda _: None) as coordinator,
        WebhookReceiver() as hooks,
    ):
        transport = httpx.ASGITransport(app=create_app(coordinator))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            admin = await coordinator.store.get_user_by_name("admin")
            _, token = await coordinator.store.create_token(admin.id, "test")
            state = coordinator.fleet.nodes["n1"] = NodeState("n1", status=NodeStatus.ONLINE)
            state.containers[CID] = summary_of("running")
            yield App(coordinator, client, hooks, {"Authorization": f"Bearer {token}"})


def summary_of(state: str, started: float | None = None) -> ContainerSummary:
    return ContainerSummary(
        id=CID, name="web-1", image="busybox", state=state, started_at=started, labels={"t": "1"}
    )


def container_event(
    app: App, action: str, state: str, *, started: float | None = 1.0, at: float = 0.0, **attrs: str
) -> None:
    summary = summary_of(state, started)
    app.coordinator.fleet.nodes["n1"].containers[CID] = summary
    event = pb.Event(
        seq=next(SEQ),
        type="container",
        action=action,
        actor_id=CID,
        attributes=attrs,
        time_nano=int(at * 1e9),
        container=summary_to_proto(summary),
    )
    app.coordinator.fleet.apply_events("n1", [event])


async def until(condition: Callable[[], object]) -> None:
    async def probe() -> bool:
        return bool(condition())

    await eventually(probe)
