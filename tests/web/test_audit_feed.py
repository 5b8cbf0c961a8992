"""The audit log's live feed on the events stream, and its ``result`` filter, in process.

A real coordinator (SQLite, no listeners) behind its ASGI app; WebSockets are driven over ASGI
directly (tests/web/_asgi.py). The browser proof (the audit page appending entries live) is
tests/ui/test_audit_alerts.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from docklord.coordinator import Coordinator, NodeState, NodeStatus

from ..web._asgi import AsgiWebSocket, coordinator_app


@dataclass
class App:
    coordinator: Coordinator
    asgi: Any
    client: httpx.AsyncClient
    admin_token: str

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def audit(self, **params: str) -> httpx.Response:
        return await self.client.get("/api/v1/audit", params=params, headers=self.admin)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with coordinator_app(tmp_path) as (coordinator, asgi, token):
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield App(coordinator, asgi, client, token)


async def test_admins_get_each_audit_entry_live_and_other_roles_none(app: App) -> None:
    store = app.coordinator.store
    viewer = await store.create_user("vic", "viewer-password-1", "viewer")
    _, viewer_token = await store.create_token(viewer.id, "v")
    async with (
        AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=app.admin_token) as admin_ws,
        AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=viewer_token) as viewer_ws,
    ):
        assert (await admin_ws.receive_json())["kind"] == "snapshot"
        assert (await viewer_ws.receive_json())["kind"] == "snapshot"
        created = await app.client.post(
            "/api/v1/users",
            json={"username": "olga", "password": "operator-password-1", "role": "operator"},
            headers=app.admin,
        )
        assert created.status_code == 201, created.text
        frame = await admin_ws.receive_json()
        listed = (await app.audit(action="user.create")).json()["entries"]
        assert frame == {"kind": "audit", **listed[0]}
        assert (frame["actor"], frame["target"], frame["result"]) == ("token:1", "olga", "ok")
        # Then the change itself, for the open users pages (tests/web/test_admin_live.py).
        made = {"what": "users", "action": "create", "user_id": created.json()["id"]}
        assert await admin_ws.receive_json() == {"kind": "identity", **made}
        # An entry written outside any route (a failed sign-in) streams too.
        failed = await app.client.post(
            "/api/v1/auth/login", json={"username": "Nobody", "password": "wrong-password"}
        )
        assert failed.status_code == 401
        frame = await admin_ws.receive_json()
        assert (frame["kind"], frame["action"], frame["actor"]) == (
            "audit",
            "auth.login",
            "user:nobody",
        )
        assert frame["result"] == "error: unauthenticated"
        # The viewer got neither: the next thing it sees is a node going away.
        app.coordinator.fleet.nodes["n1"] = NodeState("n1", status=NodeStatus.ONLINE)
        app.coordinator.fleet.forget("n1")
        assert (await viewer_ws.receive_json())["kind"] == "node"
        assert (await admin_ws.receive_json())["kind"] == "node"
        assert viewer_ws.from_app.empty()


async def test_the_audit_log_filters_by_result(app: App) -> None:
    store = app.coordinator.store
    await store.record("user:a", "container.stop", target_node="n1", result="ok")
    await store.record("user:a", "container.stop", target_node="n1", result="error: conflict")
    await store.record("user:b", "access.denied", result="error: forbidden")
    ok = (await app.audit(result="ok", actor="user:a")).json()["entries"]
    assert [e["result"] for e in ok] == ["ok"]
    errors = (await app.audit(result="error")).json()["entries"]
    assert [e["result"] for e in errors] == ["error: forbidden", "error: conflict"]
    both = (await app.audit(result="error", actor="user:a", node="n1")).json()["entries"]
    assert [e["result"] for e in both] == ["error: conflict"]
    bad = await app.audit(result="failed")
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "query.result"
