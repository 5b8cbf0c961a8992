"""Admin changes made elsewhere reach the open pages, in process: ``identity`` messages (users,
tokens, enrollments) and renamed nodes on the events stream, who gets which; the enrollment
list and withdrawal; editing an alert channel without ever seeing its URL again.

A real coordinator (SQLite, no listeners) behind its ASGI app, WebSockets over ASGI. The
browser proofs are tests/ui/test_admin_live.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from docklord.coordinator import Coordinator, NodeState, NodeStatus
from docklord.errors import HandshakeRejected

from ..web._asgi import AsgiWebSocket, coordinator_app

SECRET_URL = "https://hooks.example.test/services/T000/B000/very-secret-path"  # a credential


@dataclass
class App:
    coordinator: Coordinator
    asgi: Any
    client: httpx.AsyncClient
    admin_token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with coordinator_app(tmp_path) as (coordinator, asgi, token):
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield App(coordinator, asgi, client, token)


async def next_of(ws: AsgiWebSocket, kind: str) -> dict[str, Any]:
    """The next message of ``kind`` (admins also get the audit entries in between)."""
    while True:
        message: dict[str, Any] = await ws.receive_json()
        if message["kind"] == kind:
            return message


async def drained_to_node_message(app: App, *sockets: AsgiWebSocket) -> list[list[str]]:
    """The kinds each socket got before a node message sent now (the end marker; node n1,
    which every socket here sees)."""
    app.coordinator.fleet.nodes["n1"] = NodeState("n1", status=NodeStatus.ONLINE)
    app.coordinator.fleet.forget("n1")
    seen: list[list[str]] = []
    for ws in sockets:
        kinds: list[str] = []
        while (message := await ws.receive_json())["kind"] != "node":
            kinds.append(message["kind"])
        seen.append(kinds)
    return seen


async def test_users_and_tokens_changes_reach_whom_they_concern_without_secrets(app: App) -> None:
    store = app.coordinator.store
    vic = await store.create_user("vic", "viewer-password-1", "viewer")
    _, vic_stream = await store.create_token(vic.id, "stream")
    ursula = await store.create_user("ursula", "viewer-password-2", "viewer", ["n1"])
    _, ursula_stream = await store.create_token(ursula.id, "stream")
    async with (
        AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=app.admin_token) as admin_ws,
        AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=vic_stream) as vic_ws,
        AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=ursula_stream) as ursula_ws,
    ):
        for ws in (admin_ws, vic_ws, ursula_ws):
            assert (await ws.receive_json())["kind"] == "snapshot"
        body = {"username": "olga", "password": "operator-password-1", "role": "operator"}
        made = await app.client.post("/api/v1/users", json=body, headers=app.auth())
        olga = made.json()["id"]
        assert await next_of(admin_ws, "identity") == {
            "kind": "identity",
            "what": "users",
            "action": "create",
            "user_id": olga,
        }
        changed = await app.client.patch(
            f"/api/v1/users/{olga}", json={"role": "viewer"}, headers=app.auth()
        )
        assert changed.status_code == 200
        assert (await next_of(admin_ws, "identity"))["action"] == "update"

        # vic makes a token with curl: vic's page and the admins' hear of it, ursula's not.
        created = await app.client.post(
            "/api/v1/tokens", json={"name": "ci"}, headers=app.auth(vic_stream)
        )
        assert created.status_code == 201, created.text
        token = created.json()
        expected = {
            "kind": "identity",
            "what": "tokens",
            "action": "create",
            "user_id": vic.id,
            "token_id": token["id"],
        }
        assert await next_of(vic_ws, "identity") == expected
        assert await next_of(admin_ws, "identity") == expected
        revoked = await app.client.delete(f"/api/v1/tokens/{token['id']}", headers=app.auth())
        assert revoked.status_code == 204
        heard = await next_of(vic_ws, "identity")
        assert (heard["action"], heard["token_id"]) == ("revoke", token["id"])
        assert (await next_of(admin_ws, "identity"))["action"] == "revoke"
        # A refused change announces nothing.
        refused = await app.client.patch(
            "/api/v1/users/999", json={"role": "viewer"}, headers=app.auth()
        )
        assert refused.status_code == 404
        deleted = await app.client.delete(f"/api/v1/users/{olga}", headers=app.auth())
        assert deleted.status_code == 204
        assert (await next_of(admin_ws, "identity"))["action"] == "delete"

        # The stream of a token being revoked closes; it is not told of the revocation first.
        doomed_token, other_stream = await store.create_token(vic.id, "other")
        async with AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=other_stream) as doomed:
            assert (await doomed.receive_json())["kind"] == "snapshot"
            gone = await app.client.delete(
                f"/api/v1/tokens/{doomed_token.id}", headers=app.auth(vic_stream)
            )
            assert gone.status_code == 204
            closed = await doomed.next_event()
            assert (closed["type"], closed.get("code")) == ("websocket.close", 4401), closed
        assert (await next_of(vic_ws, "identity"))["token_id"] == doomed_token.id
        assert (await next_of(admin_ws, "identity"))["token_id"] == doomed_token.id

        admin_rest, vic_rest, ursula_rest = await drained_to_node_message(
            app, admin_ws, vic_ws, ursula_ws
        )
        assert "identity" not in admin_rest  # nothing for the refused change
        assert vic_rest == [] and ursula_rest == []  # no users messages for non-admins
        assert ursula_ws.from_app.empty()


async def test_a_renamed_node_is_announced_to_streams_but_not_to_the_alert_observers(
    app: App,
) -> None:
    registered = await app.client.post(
        "/api/v1/nodes", json={"mode": "secret", "node_id": "n1"}, headers=app.auth()
    )
    assert registered.status_code == 201
    told: list[dict[str, Any]] = []
    app.coordinator.fleet.status_observers.append(lambda _node, message: told.append(message))
    async with AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=app.admin_token) as ws:
        assert (await ws.receive_json())["kind"] == "snapshot"
        change = {"name": "web-1", "labels": {"rack": "a"}}
        answer = await app.client.patch("/api/v1/nodes/n1", json=change, headers=app.auth())
        assert answer.status_code == 200, answer.text
        assert await next_of(ws, "node") == {
            "kind": "node",
            "node_id": "n1",
            "status": "offline",
            "name": "web-1",
            "labels": {"rack": "a"},
        }
        # The same name again changes nothing: no message.
        await app.client.patch("/api/v1/nodes/n1", json=change, headers=app.auth())
        app.coordinator.fleet.forget("n1")
        assert (await next_of(ws, "node"))["status"] == "removed"
    assert [m["status"] for m in told] == ["removed"]


async def test_unused_enrollments_are_listed_without_tokens_and_withdrawn(app: App) -> None:
    store = app.coordinator.store
    viewer = await store.create_user("vic", "viewer-password-1", "viewer")
    _, viewer_token = await store.create_token(viewer.id, "v")
    body = {"mode": "token", "node_id": "edge-1", "name": "Edge", "labels": {"site": "b"}}
    async with AsgiWebSocket(app.asgi, "/api/v1/events/ws", token=app.admin_token) as ws:
        assert (await ws.receive_json())["kind"] == "snapshot"
        invited = (await app.client.post("/api/v1/nodes", json=body, headers=app.auth())).json()
        created = await next_of(ws, "identity")
        assert (created["what"], created["action"], created["node_id"]) == (
            "enrollments",
            "create",
            "edge-1",
        )
        listed = (await app.client.get("/api/v1/enrollments", headers=app.auth())).json()
        (row,) = listed["enrollments"]
        assert (row["node_id"], row["name"], row["labels"]) == ("edge-1", "Edge", {"site": "b"})
        assert row["expires_at"] == invited["expires_at"] and row["created_by"] == 1
        assert invited["enroll_token"] not in json.dumps(listed)
        assert set(row) == {"id", "node_id", "name", "labels", "created_by", "created_at"} | {
            "expires_at"
        }
        denied = await app.client.get("/api/v1/enrollments", headers=app.auth(viewer_token))
        assert denied.status_code == 403
        refused = await app.client.delete(
            f"/api/v1/enrollments/{row['id']}", headers=app.auth(viewer_token)
        )
        assert refused.status_code == 403

        gone = await app.client.delete(f"/api/v1/enrollments/{row['id']}", headers=app.auth())
        assert gone.status_code == 204
        assert (await next_of(ws, "identity"))["action"] == "withdraw"
    assert (await app.client.get("/api/v1/enrollments", headers=app.auth())).json() == {
        "enrollments": []
    }
    with pytest.raises(HandshakeRejected):
        await app.coordinator.auth.handshake("", "", invited["enroll_token"])
    again = await app.client.delete(f"/api/v1/enrollments/{row['id']}", headers=app.auth())
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    bad = await app.client.delete("/api/v1/enrollments/0", headers=app.auth())
    assert bad.status_code == 422
    entries = (
        await app.client.get(
            "/api/v1/audit", params={"action": "node.withdraw"}, headers=app.auth()
        )
    ).json()["entries"]
    assert [(e["target"], e["result"]) for e in entries] == [
        (str(row["id"]), "error: not_found"),
        ("edge-1", "ok"),
    ]


async def test_a_channel_is_edited_in_place_and_its_url_never_comes_back(app: App) -> None:
    base = "/api/v1/alerts/channels"
    body = {"name": "ops", "url": SECRET_URL}
    made = (await app.client.post(base, json=body, headers=app.auth())).json()
    await app.client.post(base, json={"name": "other", "url": SECRET_URL}, headers=app.auth())
    url = f"{base}/{made['id']}"

    renamed = await app.client.patch(url, json={"name": "pager", "timeout": 3}, headers=app.auth())
    assert renamed.status_code == 200, renamed.text
    doc = renamed.json()
    assert (doc["name"], doc["timeout"], doc["max_attempts"]) == ("pager", 3, 5)
    assert doc["receiver"] == "https://hooks.example.test" and SECRET_URL not in renamed.text
    stored = await app.coordinator.store.get_channel(made["id"])
    assert stored.url == SECRET_URL  # kept, as it was not given

    moved = await app.client.patch(
        url, json={"url": "https://other.example.test/hook/new-secret"}, headers=app.auth()
    )
    assert moved.json()["receiver"] == "https://other.example.test"
    assert "new-secret" not in moved.text
    assert (await app.coordinator.store.get_channel(made["id"])).url.endswith("/new-secret")

    for bad in ({}, {"url": None}, {"name": None}, {"url": "ftp://x"}, {"timeout": 0}, {"x": 1}):
        answer = await app.client.patch(url, json=bad, headers=app.auth())
        assert answer.status_code == 422, (bad, answer.text)
    taken = await app.client.patch(url, json={"name": "other"}, headers=app.auth())
    assert taken.status_code == 409
    missing = await app.client.patch(f"{base}/999", json={"name": "x"}, headers=app.auth())
    assert missing.status_code == 404
    entries = (
        await app.client.get(
            "/api/v1/audit", params={"action": "alert_channel.update"}, headers=app.auth()
        )
    ).json()["entries"]
    assert "secret" not in json.dumps(entries)
    assert entries[-1]["params"] == {"name": "pager", "timeout": 3}
    assert {"receiver": "https://other.example.test"} in [e["params"] for e in entries]
