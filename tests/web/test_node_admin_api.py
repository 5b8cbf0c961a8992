"""``PATCH /api/v1/nodes/{node}`` (rename and relabel), in-process: the coordinator app through
``httpx.ASGITransport`` on a fresh SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from docklord.coordinator import Coordinator
from tests.web._asgi import coordinator_app


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[tuple[Coordinator, httpx.AsyncClient]]:
    async with (
        coordinator_app(tmp_path) as (coordinator, app, token),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        yield coordinator, client


async def _register(client: httpx.AsyncClient) -> str:
    made = await client.post("/api/v1/nodes", json={"mode": "secret", "name": "web-1"})
    assert made.status_code == 201, made.text
    return str(made.json()["node_id"])


async def test_an_admin_renames_and_relabels_a_node(
    admin: tuple[Coordinator, httpx.AsyncClient],
) -> None:
    coordinator, client = admin
    node = await _register(client)
    changed = await client.patch(
        f"/api/v1/nodes/{node}", json={"name": "db-1", "labels": {"tier": "db"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "db-1" and changed.json()["labels"] == {"tier": "db"}
    assert changed.json()["status"] == "offline"
    listed = (await client.get("/api/v1/nodes")).json()["nodes"]
    assert [(n["name"], n["labels"]) for n in listed] == [("db-1", {"tier": "db"})]
    # Only the given field changes; an empty name clears it.
    cleared = (await client.patch(f"/api/v1/nodes/{node}", json={"name": ""})).json()
    assert cleared["name"] == "" and cleared["labels"] == {"tier": "db"}
    record = await coordinator.store.get_node(node)
    assert record.name is None and record.labels == {"tier": "db"}
    entries = (await client.get("/api/v1/audit", params={"action": "node.update"})).json()
    assert [(e["node"], e["result"]) for e in entries["entries"]] == [(node, "ok")] * 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"name": "n" * 256}, "name"),
        ({"labels": {"k": "v" * 257}}, "labels"),
        ({"labels": None}, "labels"),
        ({"node_id": "other"}, "node_id"),
    ],
)
async def test_a_bad_change_is_refused_with_422(
    admin: tuple[Coordinator, httpx.AsyncClient], body: dict[str, object], field: str | None
) -> None:
    _, client = admin
    node = await _register(client)
    answer = await client.patch(f"/api/v1/nodes/{node}", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    if field is not None:
        assert field in str(answer.json()["error"]["fields"])


async def test_unknown_revoked_and_non_admin_are_refused(
    admin: tuple[Coordinator, httpx.AsyncClient],
) -> None:
    coordinator, client = admin
    node = await _register(client)
    missing = await client.patch("/api/v1/nodes/no-such-node", json={"name": "x"})
    assert missing.status_code == 404, missing.text
    user = await coordinator.store.create_user("oscar", "operator-password", "operator")
    _, token = await coordinator.store.create_token(user.id, "t")
    operator = await client.patch(
        f"/api/v1/nodes/{node}",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert operator.status_code == 403, operator.text
    assert (await client.delete(f"/api/v1/nodes/{node}")).json()["status"] == "revoked"
    revoked = await client.patch(f"/api/v1/nodes/{node}", json={"name": "x"})
    assert revoked.status_code == 404, revoked.text
    assert (await client.get("/api/v1/nodes")).json()["nodes"] == []
