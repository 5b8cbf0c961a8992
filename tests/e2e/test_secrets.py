"""No secret is ever logged, stored in plain text, or shown again after it was created.

One full scenario at debug log level touches every kind of secret: the admin password, wrong
passwords, user passwords and their change, session tokens, API tokens (header, ``?token=``,
WebSocket), node secrets (link handshake, the documented ``?node_id=&password=`` requests over
HTTP and WebSocket), an enrollment token and the password the coordinator assigns with it. Then
every log, every listing the API offers and the database files are searched for each of them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import make_url

from docklord.testing import CoordinatorProcess, NodeProcess

from .conftest import api, database_url_of, started_coordinator, wait_online
from .test_identity import login, make_token, start_agent

pytestmark = pytest.mark.e2e


class Secrets(list[str]):
    """Every secret of the scenario, with where it came from."""

    def add(self, value: str) -> str:
        assert len(value) >= 12, "short values could match by chance"
        self.append(value)
        return value


async def test_no_secret_leaks_from_a_full_scenario(tmp_path: Path, docker_host: str) -> None:
    seen = Secrets()
    with started_coordinator(
        tmp_path / "coordinator",
        registration="enroll",
        admin_password=seen.add(secrets.token_urlsafe(16)),
        extra_args=["--log-level=debug"],
    ) as coord:
        processes: list[object] = []
        try:
            responses = await _scenario(coord, seen, tmp_path, docker_host, processes)
        finally:
            for proc in processes:
                proc.stop()  # type: ignore[attr-defined]
            coord.stop()
        stored = _stored(coord)
    logs = {"coordinator": coord.log()}
    logs.update({f"node {n}": p.log() for n, p in enumerate(processes)})  # type: ignore[attr-defined]
    assert "password=***" in logs["coordinator"] and "token=***" in logs["coordinator"]
    assert b"carol" in stored  # the dump holds the data searched below
    for secret in seen:
        for where, text in logs.items():
            assert secret not in text, f"a secret is in the {where} log"
        assert secret not in responses, "a secret is shown again by the API"
        assert secret.encode() not in stored, "a secret is stored in plain text"
    print(f"checked {len(seen)} secrets against {sum(map(len, logs.values()))} bytes of logs")


def _stored(coord: CoordinatorProcess) -> bytes:
    """Everything the coordinator stored: its SQLite files, or a dump of its PostgreSQL
    database."""
    url = database_url_of(coord)
    if url is None:
        return b"".join(p.read_bytes() for p in (coord.workdir / "data").glob("*.db*"))
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--data-only", plain], capture_output=True, check=True)
    return dump.stdout


async def _scenario(
    coord: CoordinatorProcess,
    seen: Secrets,
    tmp: Path,
    docker_host: str,
    processes: list[object],
) -> str:
    assert (await login(coord, "admin", seen.add(secrets.token_urlsafe(16)))).status_code == 401
    admin_session = seen.add(coord.login())
    async with api(coord, admin_session) as admin:
        await _users_and_tokens(coord, admin, seen)
        secret_node = (await admin.post("/api/v1/nodes", json={"mode": "secret"})).json()
        invite = (await admin.post("/api/v1/nodes", json={"mode": "token"})).json()
        node = NodeProcess(
            [coord.ws_url],
            secret_node["node_id"],
            seen.add(secret_node["password"]),
            docker_host=docker_host,
            workdir=tmp / "node",
            extra_args=["--log-level=debug"],
        )
        node.workdir.mkdir()
        node.start()
        enrolled = start_agent(
            tmp / "enrolled",
            docker_host,
            f"--coordinator={coord.grpc_url}",
            "--log-level=debug",
            env={"DOCKLORD_ENROLL_TOKEN": seen.add(invite["enroll_token"])},
        )
        processes.extend([node, enrolled])
        await wait_online(admin, secret_node["node_id"], invite["node_id"])
        state = json.loads((tmp / "enrolled" / "state" / "node.json").read_text())
        assigned = seen.add(state["password"])
        await _documented_requests(coord, secret_node["node_id"], secret_node["password"], seen)
        await _documented_requests(coord, invite["node_id"], assigned, seen)
        assert (await admin.delete(f"/api/v1/nodes/{invite['node_id']}")).status_code == 200
        return await _everything_the_api_lists(admin)


async def _users_and_tokens(
    coord: CoordinatorProcess, admin: httpx.AsyncClient, seen: Secrets
) -> None:
    first, second = seen.add(secrets.token_urlsafe(16)), seen.add(secrets.token_urlsafe(16))
    body = {"username": "carol", "password": first, "role": "operator"}
    assert (await admin.post("/api/v1/users", json=body)).status_code == 201
    session = seen.add((await login(coord, "carol", first)).json()["token"])
    async with api(coord, session) as carol:
        change = {"old_password": first, "new_password": second}
        changed = await carol.patch("/api/v1/me/password", json=change)
        assert changed.status_code == 200
        seen.add(changed.json()["token"])
    assert (await login(coord, "carol", first)).status_code == 401
    carol_session = seen.add((await login(coord, "carol", second)).json()["token"])
    async with api(coord, carol_session) as carol:
        token = await make_token(carol, name="ci")
    plaintext = seen.add(token["token"])
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as anyone:
        assert (await anyone.get("/api/v1/me", params={"token": plaintext})).status_code == 200
    url = f"ws://127.0.0.1:{coord.port}/api/v1/events/ws?token={plaintext}"
    async with websockets.connect(url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["kind"] == "snapshot"
    reset = seen.add(secrets.token_urlsafe(16))
    users = (await admin.get("/api/v1/users")).json()["users"]
    carol_id = next(u["id"] for u in users if u["username"] == "carol")
    assert (
        await admin.patch(f"/api/v1/users/{carol_id}", json={"password": reset})
    ).status_code == 200
    assert (await admin.delete(f"/api/v1/tokens/{token['id']}")).status_code == 204


async def _documented_requests(
    coord: CoordinatorProcess, node_id: str, password: str, seen: Secrets
) -> None:
    query = {"node_id": node_id, "password": password}
    async with httpx.AsyncClient(base_url=coord.url, timeout=10) as client:
        assert (await client.get("/api/containers", params=query)).status_code == 200
        assert (await client.get("/api/v1/me", params=query)).status_code == 200
        wrong = {"node_id": node_id, "password": seen.add(secrets.token_urlsafe(16))}
        assert (await client.get("/api/containers", params=wrong)).status_code == 401
    url = f"ws://127.0.0.1:{coord.port}/observe-containers?node_id={node_id}&password={password}"
    async with websockets.connect(url, max_size=2**24) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["node_id"] == node_id


async def _everything_the_api_lists(admin: httpx.AsyncClient) -> str:
    paths = [
        "/api/v1/users",
        "/api/v1/tokens?all=true",
        "/api/v1/audit?limit=1000",
        "/api/v1/nodes",
        "/api/v1/containers",
        "/api/v1/me",
    ]
    bodies = []
    for path in paths:
        response = await admin.get(path)
        assert response.status_code == 200, (path, response.text)
        bodies.append(response.text)
    return "\n".join(bodies)
