"""Identity end to end: users, sessions, tokens, live revocation, audit, node registration."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from docklord.testing import CoordinatorProcess, eventually, unique_name
from docklord.testing._processes import _env, _Process

from .conftest import api, started_coordinator, wait_online

pytestmark = pytest.mark.e2e


# ---- helpers shared with the other identity test modules ------------------------------------


async def make_user(
    admin: httpx.AsyncClient, role: str, grants: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    """A new user with ``role``; returns it and its password."""
    password = secrets.token_urlsafe(12)
    body = {"username": unique_name(role), "password": password, "role": role}
    if grants is not None:
        body["node_grants"] = grants
    response = await admin.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    return response.json(), password


async def make_token(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """A new API token of the client's user (the answer holds ``token``)."""
    response = await client.post("/api/v1/tokens", json={"name": unique_name("tok"), **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def login(coordinator: CoordinatorProcess, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=coordinator.url, timeout=10) as client:
        return await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )


def start_agent(workdir: Path, docker_host: str, *args: str, env: dict[str, str]) -> _Process:
    """A ``docklord node`` with exactly these arguments and ``DOCKLORD_*`` variables."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = ["node", f"--docker-host={docker_host}", f"--state-dir={workdir / 'state'}", *args]
    proc = _Process(argv, _env(env), workdir / "node.log")
    proc.start()
    return proc


def exit_status(proc: _Process, timeout: float = 10.0) -> int | None:
    assert proc.proc is not None
    try:
        return proc.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


async def ws_close_code(url: str, headers: dict[str, str] | None = None, **kw: Any) -> int:
    """Connect and return the close code the server ends the socket with (within 5 s)."""
    async with websockets.connect(url, additional_headers=headers or {}, **kw) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoordinatorProcess]:
    with started_coordinator(tmp_path_factory.mktemp("identity"), registration="enroll") as proc:
        yield proc


@pytest.fixture
async def admin(coord: CoordinatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with api(coord, coord.login()) as client:
        yield client


@pytest.fixture
def agents(tmp_path: Path, docker_host: str) -> Iterator[list[_Process]]:
    started: list[_Process] = []
    yield started
    for proc in started:
        proc.stop()
        print(f"--- agent log ---\n{proc.log()[-5000:]}")


# ---- users ----------------------------------------------------------------------------------


async def test_users_are_managed_by_admins_with_clear_errors(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    viewer, password = await make_user(admin, "viewer")
    assert viewer["role"] == "viewer" and viewer["node_grants"] is None
    assert "password" not in viewer and "password_hash" not in json.dumps(viewer)
    listed = (await admin.get("/api/v1/users")).json()["users"]
    assert viewer["username"] in {u["username"] for u in listed}

    token = (await login(coord, viewer["username"], password)).json()["token"]
    async with api(coord, token) as as_viewer:
        assert (await as_viewer.get("/api/v1/users")).status_code == 403
        me = (await as_viewer.get("/api/v1/me")).json()
        assert me["role"] == "viewer" and me["via"] == "session"

    changed = await admin.patch(
        f"/api/v1/users/{viewer['id']}", json={"role": "operator", "node_grants": ["n1", "n2"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "operator" and changed.json()["node_grants"] == ["n1", "n2"]
    cleared = await admin.patch(f"/api/v1/users/{viewer['id']}", json={"node_grants": None})
    assert cleared.json()["node_grants"] is None and cleared.json()["role"] == "operator"

    disabled = await admin.patch(f"/api/v1/users/{viewer['id']}", json={"disabled": True})
    assert disabled.json()["disabled"] is True
    async with api(coord, token) as as_viewer:
        assert (await as_viewer.get("/api/v1/me")).status_code == 401
    assert (await login(coord, viewer["username"], password)).status_code == 401

    assert (await admin.delete(f"/api/v1/users/{viewer['id']}")).status_code == 204
    assert (await admin.get(f"/api/v1/users/{viewer['id']}")).status_code == 404
    assert (await admin.delete(f"/api/v1/users/{viewer['id']}")).status_code == 404
    me_id = (await admin.get("/api/v1/me")).json()["user_id"]
    own = await admin.delete(f"/api/v1/users/{me_id}")
    assert own.status_code == 409 and own.json()["error"]["code"] == "conflict"


async def test_bad_user_input_is_a_422_with_fields(admin: httpx.AsyncClient) -> None:
    cases = [
        ({"username": "", "password": "long-enough-pw"}, "username"),
        ({"username": "bad name!", "password": "long-enough-pw"}, "username"),
        ({"username": "ok-name", "password": "short"}, "password"),
        ({"username": "ok-name", "password": "long-enough-pw", "role": "root"}, "role"),
        ({"username": "ok-name", "password": "long-enough-pw", "grants": []}, "grants"),
        ({"username": "ok-name", "password": "long-enough-pw", "node_grants": ["a b"]}, ""),
    ]
    for body, field in cases:
        response = await admin.post("/api/v1/users", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert any(field in f["field"] for f in error["fields"]), (field, error)
    user, _ = await make_user(admin, "viewer")
    again = await admin.post(
        "/api/v1/users", json={"username": user["username"], "password": "another-password"}
    )
    assert again.status_code == 409
    empty = await admin.patch(f"/api/v1/users/{user['id']}", json={})
    assert empty.status_code == 422
    assert (await admin.patch("/api/v1/users/abc", json={"role": "viewer"})).status_code == 422


# ---- sessions and passwords -----------------------------------------------------------------


async def test_login_sets_a_strict_cookie_and_logout_ends_the_session(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    user, password = await make_user(admin, "viewer")
    response = await login(coord, user["username"], password)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert response.json()["user"]["username"] == user["username"]
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as browser:
        browser.cookies.set("docklord_session", response.json()["token"])
        assert (await browser.get("/api/v1/me")).json()["via"] == "session"
        out = await browser.post("/api/v1/auth/logout")
        assert out.status_code == 204
        assert "docklord_session" in out.headers["set-cookie"]
        browser.cookies.set("docklord_session", response.json()["token"])
        assert (await browser.get("/api/v1/me")).status_code == 401


async def test_changing_the_password_needs_the_old_one_and_ends_sessions(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    user, password = await make_user(admin, "operator")
    first = (await login(coord, user["username"], password)).json()["token"]
    second = (await login(coord, user["username"], password)).json()["token"]
    async with api(coord, first) as client:
        wrong = await client.patch(
            "/api/v1/me/password", json={"old_password": "nope", "new_password": "n3w-password"}
        )
        assert wrong.status_code == 401
        short = await client.patch(
            "/api/v1/me/password", json={"old_password": password, "new_password": "x"}
        )
        assert short.status_code == 422
        new_password = secrets.token_urlsafe(12)
        done = await client.patch(
            "/api/v1/me/password", json={"old_password": password, "new_password": new_password}
        )
        assert done.status_code == 200, done.text
        assert done.json()["sessions_ended"] == 2
        fresh = done.json()["token"]
    for stale in (first, second):
        async with api(coord, stale) as client:
            assert (await client.get("/api/v1/me")).status_code == 401
    async with api(coord, fresh) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
    assert (await login(coord, user["username"], password)).status_code == 401
    assert (await login(coord, user["username"], new_password)).status_code == 200


# ---- tokens ---------------------------------------------------------------------------------


async def test_api_tokens_are_shown_once_scoped_and_revocable(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    operator, password = await make_user(admin, "operator")
    session = (await login(coord, operator["username"], password)).json()["token"]
    async with api(coord, session) as as_operator:
        created = await make_token(as_operator, role_scope="viewer", expires_in=3600)
        assert created["role_scope"] == "viewer" and created["expires_at"] is not None
        plaintext = created.pop("token")
        assert created["prefix"] == plaintext[:8]
        listed = (await as_operator.get("/api/v1/tokens")).json()["tokens"]
        assert [t["id"] for t in listed] == [created["id"]]
        assert plaintext not in json.dumps(listed)
        too_high = await as_operator.post(
            "/api/v1/tokens", json={"name": "x", "role_scope": "admin"}
        )
        assert too_high.status_code == 422
        both = await as_operator.post(
            "/api/v1/tokens",
            json={"name": "x", "expires_in": 60, "expires_at": "2999-01-01T00:00:00Z"},
        )
        assert both.status_code == 422
        assert (await as_operator.get("/api/v1/tokens?all=true")).status_code == 403

    async with api(coord, plaintext) as with_token:
        me = (await with_token.get("/api/v1/me")).json()
        assert me["role"] == "viewer" and me["via"] == "token"
        # A scoped token cannot mint a stronger one.
        assert (await with_token.post("/api/v1/tokens", json={"name": "y"})).json()[
            "role_scope"
        ] == "viewer"
        mine = (await with_token.get("/api/v1/tokens")).json()["tokens"]
        assert mine[0]["last_used_at"] is not None

    other, _ = await make_user(admin, "viewer")
    admin_token = await make_token(admin)
    async with api(coord, session) as as_operator:
        hidden = await as_operator.delete(f"/api/v1/tokens/{admin_token['id']}")
        assert hidden.status_code == 404
        assert (await as_operator.delete(f"/api/v1/tokens/{created['id']}")).status_code == 204
    async with api(coord, plaintext) as with_token:
        assert (await with_token.get("/api/v1/me")).status_code == 401
    everyone = (await admin.get("/api/v1/tokens", params={"all": "true"})).json()["tokens"]
    revoked = next(t for t in everyone if t["id"] == created["id"])
    assert revoked["revoked_at"] is not None and revoked["active"] is False
    assert other["id"] not in {t["user_id"] for t in everyone}


async def test_revocation_closes_live_streams_within_a_second(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    events = f"ws://127.0.0.1:{coord.port}/api/v1/events/ws"
    user, password = await make_user(admin, "viewer")
    session = (await login(coord, user["username"], password)).json()["token"]
    async with api(coord, session) as as_user:
        token = (await make_token(as_user))["token"]
        token_id = (await as_user.get("/api/v1/tokens")).json()["tokens"][0]["id"]

        async def timed_close(ws: Any, revoke: Any) -> float:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["kind"] == "snapshot"
            started = time.monotonic()
            await revoke()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            return time.monotonic() - started

        async with websockets.connect(f"{events}?token={token}") as ws:
            took = await timed_close(ws, lambda: as_user.delete(f"/api/v1/tokens/{token_id}"))
        print(f"token revoked -> stream closed in {took * 1000:.0f} ms")
        assert took < 1.0
        headers = {"Authorization": f"Bearer {session}"}
        async with websockets.connect(events, additional_headers=headers) as ws:
            took = await timed_close(ws, lambda: as_user.post("/api/v1/auth/logout"))
        print(f"logout -> stream closed in {took * 1000:.0f} ms")

    second = (await login(coord, user["username"], password)).json()["token"]
    headers = {"Authorization": f"Bearer {second}"}
    async with websockets.connect(events, additional_headers=headers) as ws:
        took = await timed_close(
            ws, lambda: admin.patch(f"/api/v1/users/{user['id']}", json={"role": "operator"})
        )
    print(f"user changed -> stream closed in {took * 1000:.0f} ms")
    assert took < 1.0


async def test_expired_token_is_refused_and_its_stream_closes(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    token = (await make_token(admin, expires_at=soon))["token"]
    url = f"ws://127.0.0.1:{coord.port}/api/v1/events/ws?token={token}"
    async with websockets.connect(url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["kind"] == "snapshot"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert "expired" in closed.value.rcvd.reason
    async with api(coord, token) as client:
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_cookie_websocket_and_writes_check_the_origin(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    token = (await login(coord, "admin", coord.admin_password)).json()["token"]
    cookie = {"Cookie": f"docklord_session={token}"}
    url = f"ws://127.0.0.1:{coord.port}/api/v1/events/ws"
    evil = {**cookie, "Origin": "http://evil.example"}
    assert await ws_close_code(url, evil) == 4403
    same = {**cookie, "Origin": f"http://127.0.0.1:{coord.port}"}
    async with websockets.connect(url, additional_headers=same) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["kind"] == "snapshot"
    async with websockets.connect(url, additional_headers=cookie) as ws:  # not a browser
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["kind"] == "snapshot"
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as browser:
        forged = await browser.post("/api/v1/tokens", json={"name": "csrf"}, headers={**evil})
        assert forged.status_code == 403
        read = await browser.get("/api/v1/me", headers=evil)
        assert read.status_code == 200  # reads cannot be forged into anything
        ok = await browser.post("/api/v1/tokens", json={"name": "same-origin"}, headers=same)
        assert ok.status_code == 201


# ---- nodes ----------------------------------------------------------------------------------


async def test_preregistered_and_enrolled_nodes_link_and_revocation_is_immediate(
    coord: CoordinatorProcess,
    admin: httpx.AsyncClient,
    agents: list[_Process],
    tmp_path: Path,
    docker_host: str,
) -> None:
    secret = await admin.post(
        "/api/v1/nodes", json={"mode": "secret", "name": "web-1", "labels": {"zone": "a"}}
    )
    assert secret.status_code == 201, secret.text
    node = secret.json()
    assert node["command"] == (
        f"DOCKLORD_PASSWORD={node['password']} docklord node "
        f"--coordinator=ws://127.0.0.1:{coord.port} --node-id={node['node_id']}"
    )
    invited = await admin.post(
        "/api/v1/nodes", json={"mode": "token", "node_id": unique_name("inv"), "enroll_ttl": 600}
    )
    assert invited.status_code == 201, invited.text
    invite = invited.json()
    assert invite["command"] == (
        f"DOCKLORD_ENROLL_TOKEN={invite['enroll_token']} docklord node "
        f"--coordinator=ws://127.0.0.1:{coord.port}"
    )
    with_secret = start_agent(
        tmp_path / "a",
        docker_host,
        f"--coordinator={coord.grpc_url}",
        f"--node-id={node['node_id']}",
        env={"DOCKLORD_PASSWORD": node["password"]},
    )
    enrolled = start_agent(
        tmp_path / "b",
        docker_host,
        f"--coordinator={coord.ws_url}",
        env={"DOCKLORD_ENROLL_TOKEN": invite["enroll_token"]},
    )
    agents.extend([with_secret, enrolled])
    await wait_online(admin, node["node_id"], invite["node_id"])
    saved = json.loads((tmp_path / "b" / "state" / "node.json").read_text())
    assert saved["node_id"] == invite["node_id"]

    reused = start_agent(
        tmp_path / "c",
        docker_host,
        f"--coordinator={coord.ws_url}",
        env={"DOCKLORD_ENROLL_TOKEN": invite["enroll_token"]},
    )
    agents.append(reused)
    assert exit_status(reused) == 3
    assert "already used" in reused.log()

    await _node_credentials_are_an_access_key(coord, node["node_id"], node["password"])
    for proc, node_id in ((with_secret, node["node_id"]), (enrolled, invite["node_id"])):
        await _revoke_and_measure(coord, admin, proc, node_id)
    query = {"node_id": node["node_id"], "password": node["password"]}
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as anyone:
        assert (await anyone.get("/api/containers", params=query)).status_code == 401


async def _node_credentials_are_an_access_key(
    coord: CoordinatorProcess, node_id: str, password: str
) -> None:
    query = {"node_id": node_id, "password": password}
    async with httpx.AsyncClient(base_url=coord.url, timeout=10, params=query) as key:
        own = await key.get(f"/api/v1/nodes/{node_id}/containers")
        assert own.status_code == 200, own.text
        assert (await key.get("/api/v1/nodes/someone-else/containers")).status_code == 404
        assert (await key.get("/api/v1/users")).status_code == 403
        assert (await key.get("/api/v1/tokens")).status_code == 403
        nodes = (await key.get("/api/v1/nodes")).json()["nodes"]
        assert [n["node_id"] for n in nodes] == [node_id]
        me = (await key.get("/api/v1/me")).json()
        assert me["actor"] == f"node:{node_id}" and me["role"] == "viewer"
    wrong = {"node_id": node_id, "password": "wrong"}
    async with httpx.AsyncClient(base_url=coord.url, timeout=10, params=wrong) as key:
        assert (await key.get("/api/v1/me")).status_code == 401


async def _revoke_and_measure(
    coord: CoordinatorProcess, admin: httpx.AsyncClient, proc: _Process, node_id: str
) -> None:
    links_before = proc.log().count("link down")
    started = time.monotonic()
    response = await admin.delete(f"/api/v1/nodes/{node_id}")
    assert response.status_code == 200, response.text
    assert response.json() == {"node_id": node_id, "status": "revoked"}

    async def link_closed() -> bool:
        return proc.log().count("link down") > links_before

    await eventually(link_closed, timeout=1.0, what=f"node {node_id} link closed")
    print(
        f"node {node_id} revoked -> link closed at the node in "
        f"{(time.monotonic() - started) * 1000:.0f} ms"
    )
    assert exit_status(proc) == 3
    assert "revoked" in proc.log()
    assert (await admin.get(f"/api/v1/nodes/{node_id}")).status_code == 404


async def test_pending_invitation_can_be_withdrawn(
    coord: CoordinatorProcess,
    admin: httpx.AsyncClient,
    agents: list[_Process],
    tmp_path: Path,
    docker_host: str,
) -> None:
    invite = (await admin.post("/api/v1/nodes", json={"mode": "token"})).json()
    withdrawn = await admin.delete(f"/api/v1/nodes/{invite['node_id']}")
    assert withdrawn.json() == {"node_id": invite["node_id"], "status": "withdrawn"}
    assert (await admin.delete(f"/api/v1/nodes/{invite['node_id']}")).status_code == 404
    late = start_agent(
        tmp_path / "late",
        docker_host,
        f"--coordinator={coord.ws_url}",
        env={"DOCKLORD_ENROLL_TOKEN": invite["enroll_token"]},
    )
    agents.append(late)
    assert exit_status(late) == 3
    bad = await admin.post("/api/v1/nodes", json={"mode": "maybe", "labels": {"": "x"}})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["error"]["fields"]} >= {"mode"}
    taken = await admin.post("/api/v1/nodes", json={"mode": "secret", "node_id": invite["node_id"]})
    assert taken.status_code == 201
    again = await admin.post("/api/v1/nodes", json={"mode": "token", "node_id": invite["node_id"]})
    assert again.status_code == 409


async def test_a_registered_node_is_listed_offline_until_it_links_even_after_a_restart(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    body = {"mode": "secret", "name": "db-7", "labels": {"zone": "b"}}
    node_id = (await admin.post("/api/v1/nodes", json=body)).json()["node_id"]

    async def listed(client: httpx.AsyncClient) -> dict[str, Any]:
        nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
        return next(n for n in nodes if n["node_id"] == node_id)  # type: ignore[no-any-return]

    for view in (await listed(admin), (await admin.get(f"/api/v1/nodes/{node_id}")).json()):
        assert view["status"] == "offline" and view["last_seen"] is None
        assert (view["name"], view["labels"]) == ("db-7", {"zone": "b"})
    offline = await admin.get(f"/api/v1/nodes/{node_id}/containers")
    assert offline.status_code == 503 and "offline" in offline.json()["error"]["message"]

    coord.kill()
    coord.start()
    coord.wait_ready()
    async with api(coord, coord.login()) as again:
        assert (await listed(again))["status"] == "offline"
        assert (await again.delete(f"/api/v1/nodes/{node_id}")).status_code == 200
        nodes = (await again.get("/api/v1/nodes")).json()["nodes"]
        assert node_id not in {n["node_id"] for n in nodes}


# ---- audit ----------------------------------------------------------------------------------


async def test_audit_log_filters_pages_and_survives_a_restart(
    coord: CoordinatorProcess, admin: httpx.AsyncClient
) -> None:
    user, password = await make_user(admin, "viewer")
    assert (await login(coord, user["username"], "wrong-password")).status_code == 401
    assert (await login(coord, user["username"], password)).status_code == 200

    logins = (
        await admin.get("/api/v1/audit", params={"actor": f"user:{user['username']}"})
    ).json()["entries"]
    assert [e["result"] for e in logins] == ["ok", "error: unauthenticated"]
    assert all(e["action"] == "auth.login" and e["source_addr"] == "127.0.0.1" for e in logins)
    created = (
        await admin.get("/api/v1/audit", params={"action": "user.create", "limit": 1000})
    ).json()["entries"]
    entry = next(e for e in created if e["target"] == user["username"])
    assert entry["actor"] == "user:admin" and entry["params"] == {
        "role": "viewer",
        "node_grants": None,
    }
    assert password not in json.dumps(created)

    pages: list[int] = []
    cursor: int | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2, **({"before_id": cursor} if cursor else {})}
        page = (await admin.get("/api/v1/audit", params=params)).json()
        pages.extend(e["id"] for e in page["entries"])
        cursor = page["next_before_id"]
        assert cursor == page["entries"][-1]["id"]
    assert pages == sorted(pages, reverse=True) and len(set(pages)) == 6

    later = (await admin.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00"})).json()
    assert later == {"entries": [], "next_before_id": None}
    bad = await admin.get("/api/v1/audit", params={"limit": 0, "since": "yesterday"})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["error"]["fields"]} == {"query.limit", "query.since"}

    coord.stop()
    coord.start()
    coord.wait_ready()
    async with api(coord, coord.login()) as again:
        kept = (await again.get("/api/v1/audit", params={"action": "user.create"})).json()
        assert entry["id"] in {e["id"] for e in kept["entries"]}


# ---- throttling (its own coordinator: it locks out 127.0.0.1) -------------------------------


async def test_failed_logins_slow_down_per_account_and_address(tmp_path: Path) -> None:
    with started_coordinator(tmp_path / "throttle") as coord:
        await _throttling(coord)


async def _throttling(coord: CoordinatorProcess) -> None:
    token = coord.login()  # bearer tokens are not throttled: read the audit log afterwards
    for _ in range(5):
        assert (await login(coord, "admin", "wrong")).status_code == 401
    locked = await login(coord, "admin", coord.admin_password)
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "1"
    assert locked.json()["error"]["code"] == "too_many_requests"
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert time.monotonic() - started < 0.5  # throttling never holds up anyone else

    async def admitted() -> bool:
        return (await login(coord, "admin", coord.admin_password)).status_code == 200

    await eventually(admitted, timeout=5, interval=0.25, what="the lock to expire")
    statuses = [(await login(coord, f"nobody{n}", "x")).status_code for n in range(20)]
    assert statuses[:14] == [401] * 14 and statuses[-1] == 429
    refused = await login(coord, "admin", coord.admin_password)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    async with api(coord, token) as client:
        entries = (await client.get("/api/v1/audit", params={"action": "auth.login"})).json()
    results = [e["result"] for e in entries["entries"]]
    assert results.count("error: too_many_requests") >= 2
    assert results.count("error: unauthenticated") == 5 + statuses.count(401)
    assert results.count("ok") == 2
