"""Identity edge cases found by the hardening probe: huge ids, token expiry, node credentials
where a user is needed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, SimulatedNode

from .conftest import api, started_coordinator
from .test_identity import make_token, make_user, ws_close_code

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def coord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoordinatorProcess]:
    with started_coordinator(tmp_path_factory.mktemp("limits"), registration="enroll") as proc:
        yield proc


@pytest.fixture
async def admin(coord: CoordinatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with api(coord, coord.login()) as client:
        yield client


def _expiry(token: dict[str, object]) -> datetime:
    assert isinstance(token["expires_at"], str)
    return datetime.fromisoformat(token["expires_at"])


async def test_ids_beyond_the_database_columns_are_422_for_every_caller(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    viewer, password = await make_user(admin, "viewer")
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as anonymous:
        signed_in = await anonymous.post(
            "/api/v1/auth/login", json={"username": viewer["username"], "password": password}
        )
    huge = [2**31, 2**63, 2**64, 10**30]
    async with api(coord, signed_in.json()["token"]) as as_viewer:
        for value in huge:
            for client, method, url in [
                (admin, "GET", f"/api/v1/users/{value}"),
                (admin, "PATCH", f"/api/v1/users/{value}"),
                (admin, "DELETE", f"/api/v1/users/{value}"),
                (as_viewer, "DELETE", f"/api/v1/tokens/{value}"),
                (admin, "DELETE", f"/api/v1/tokens/{value}"),
            ]:
                body = {"role": "viewer"} if method == "PATCH" else None
                answer = await client.request(method, url, json=body)
                assert answer.status_code == 422, (method, url, answer.text)
                assert answer.json()["error"]["code"] == "invalid_input"
        for value in [2**63, 2**64, 10**30]:
            answer = await admin.get("/api/v1/audit", params={"before_id": value})
            assert answer.status_code == 422, answer.text
    # The largest ids that fit are ordinary misses, not errors.
    assert (await admin.get(f"/api/v1/users/{2**31 - 1}")).status_code == 404
    largest = await admin.get("/api/v1/audit", params={"before_id": 2**63 - 1})
    assert largest.status_code == 200 and largest.json()["entries"]
    assert (await admin.get(f"/api/v1/users/{viewer['id']}")).status_code == 200


async def test_a_token_never_outlives_the_token_that_creates_it(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    parent = await make_token(admin, expires_in=600)
    async with api(coord, parent["token"]) as with_parent:
        inherited = await make_token(with_parent)
        assert _expiry(inherited) == _expiry(parent)
        shorter = await make_token(with_parent, expires_in=60)
        assert _expiry(shorter) <= _expiry(parent)
        for ask in [
            {"expires_in": 3600},
            {"expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        ]:
            refused = await with_parent.post("/api/v1/tokens", json={"name": "child", **ask})
            assert refused.status_code == 422, refused.text
            assert "outlive" in refused.json()["error"]["message"]
        grandchild = api(coord, inherited["token"])
        async with grandchild:
            assert _expiry(await make_token(grandchild)) == _expiry(parent)


async def test_expires_at_has_the_same_cap_as_expires_in(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    for far in ["9999-12-31T00:00:00Z", (datetime.now(UTC) + timedelta(days=3651)).isoformat()]:
        refused = await admin.post("/api/v1/tokens", json={"name": "far", "expires_at": far})
        assert refused.status_code == 422, refused.text
        assert "at most 3650 days" in refused.json()["error"]["message"]
    near = (datetime.now(UTC) + timedelta(days=3649)).isoformat()
    assert _expiry(await make_token(admin, expires_at=near)) > datetime.now(UTC)
    # A session (or a token without expiry) may still make a token that never expires.
    assert (await make_token(admin))["expires_at"] is None
    never = await make_token(admin)
    async with api(coord, never["token"]) as with_never:
        assert (await make_token(with_never))["expires_at"] is None


async def test_node_credentials_cannot_log_out_and_observers_need_a_node(
    coord: CoordinatorProcess, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    node = await admin.post("/api/v1/nodes", json={"mode": "secret"})
    assert node.status_code == 201, node.text
    creds = {"node_id": node.json()["node_id"], "password": node.json()["password"]}
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as anonymous:
        logout = await anonymous.post("/api/v1/auth/logout", params=creds)
        assert logout.status_code == 403, logout.text
        assert logout.json()["error"]["code"] == "forbidden"
        # The same credentials still work where they are meant to.
        listing = await anonymous.get("/api/containers", params=creds)
        assert listing.status_code in (200, 503), listing.text
    token = (await make_token(admin))["token"]
    observe = f"ws://127.0.0.1:{coord.port}/observe-containers"
    assert await ws_close_code(f"{observe}?token={token}") == 4400
    assert await ws_close_code(f"{observe}?token={token}&node_id=") == 4400
    async with api(coord, token) as as_admin:
        missing = await as_admin.get("/api/containers")
        assert missing.status_code == 422, missing.text


async def test_strangers_guessing_a_node_password_do_not_lock_out_its_owner(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    node = (await admin.post("/api/v1/nodes", json={"mode": "secret"})).json()
    simulated = SimulatedNode(coord.ws_url, node["node_id"], node["password"], containers=2)
    linked = asyncio.create_task(simulated.run())
    try:
        await asyncio.wait_for(simulated.linked.wait(), 10)
        right = {"node_id": node["node_id"], "password": node["password"]}
        wrong = {**right, "password": "not-the-password"}
        stranger = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
        owner = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=coord.url, transport=stranger) as client:
            answers = [
                (await client.get("/api/containers", params=wrong)).status_code for _ in range(8)
            ]
            assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}, answers
            # The stranger's own source stays locked, the right password included.
            assert (await client.get("/api/containers", params=right)).status_code == 429
        async with httpx.AsyncClient(base_url=coord.url, transport=owner) as client:
            listing = await client.get("/api/containers", params=right)
            assert listing.status_code == 200, listing.text
            assert len(listing.json()["containers"]) == 2
        query = urlencode(right)
        observe = f"ws://127.0.0.1:{coord.port}/observe-containers?{query}"
        async with websockets.connect(observe, local_addr=("127.0.0.2", 0)) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["node_id"] == node["node_id"] and len(first["containers"]) == 2
        # Still locked over the socket: 4000 + the status a request gets (docs/API.md).
        assert await ws_close_code(observe, local_addr=("127.0.0.1", 0)) == 4429
    finally:
        linked.cancel()
        await asyncio.gather(linked, return_exceptions=True)
