"""The docklord command: `up` (all in one), `--type` alias, help, node identity on first start."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from docklord.testing import CoordinatorProcess, eventually, free_port

from .conftest import api, wait_online

pytestmark = pytest.mark.e2e


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docklord", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_lists_the_roles() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for word in ("coordinator", "node", "up", "--type"):
        assert word in done.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("docklord ")


def test_bad_flag_values_are_clear_errors() -> None:
    done = run_cli("coordinator", "--registration", "maybe")
    assert done.returncode == 2
    assert "registration must be 'enroll' or 'open'" in done.stderr
    node = run_cli("node", "--coordinator", "http://x:1")
    assert node.returncode == 2 and "must start with ws://" in node.stderr


async def test_up_runs_coordinator_and_local_node(
    tmp_path: Path, docker_host: str, labelled_container: Callable[..., str]
) -> None:
    port = free_port()
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docklord", "up", f"--port={port}", f"--data-dir={tmp_path}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")},
        )
    try:

        async def printed() -> re.Match[str] | None:
            text = log.read_text()
            return re.search(r"password: (\S+)", text) if f"127.0.0.1:{port}" in text else None

        match = await eventually(printed, timeout=30, what="URL and admin password printed")
        coordinator = CoordinatorProcess(tmp_path, admin_password=match.group(1))
        coordinator.port = port
        name = labelled_container("sleep", "30")
        async with api(coordinator, coordinator.login()) as client:
            nodes = await eventually(
                lambda: _nodes(client), timeout=20, what="the local node online"
            )
            await wait_online(client, nodes[0])

            async def listed() -> bool:
                rows = (await client.get("/api/v1/containers", params={"q": name})).json()
                return bool(rows["count"] == 1)

            await eventually(listed, what="local container listed")
        state = tmp_path / "node" / "node.json"
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        assert json.loads(state.read_text())["node_id"] == nodes[0]
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _nodes(client: httpx.AsyncClient) -> list[str]:
    rows = (await client.get("/api/v1/nodes")).json()["nodes"]
    return [n["node_id"] for n in rows if n["status"] == "online"]


async def test_type_alias_and_generated_identity(
    coordinator: CoordinatorProcess, tmp_path: Path, docker_host: str
) -> None:
    state_dir = tmp_path / "state"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")},
        "DOCKLORD_COORDINATOR": coordinator.ws_url,
        "DOCKLORD_STATE_DIR": str(state_dir),
        "DOCKER_HOST": docker_host,
    }
    log = tmp_path / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docklord", "--type", "node"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        identity = await eventually(
            lambda: _identity(state_dir), timeout=20, what="identity stored"
        )
        async with api(coordinator, coordinator.login()) as client:
            await wait_online(client, identity["node_id"])
        printed = log.read_text()
        # stdout is a file here, as under a service manager: the secret stays in the state
        # file (0600) and the output names that file once.
        assert identity["password"] not in printed
        assert printed.count(str(state_dir / "node.json")) == 1
        assert identity["node_id"] in printed
        assert stat.S_IMODE((state_dir / "node.json").stat().st_mode) == 0o600
        assert identity["password"] not in coordinator.log()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _identity(state_dir: Path) -> dict[str, str] | None:
    path = state_dir / "node.json"
    return json.loads(path.read_text()) if path.exists() else None


async def test_a_terminal_is_shown_the_generated_password_once(tmp_path: Path) -> None:
    # No coordinator and no engine are needed: the identity is made before either is reached.
    state_dir = tmp_path / "state"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")},
        "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}",
    }
    primary, secondary = pty.openpty()
    args = ["node", f"--coordinator=ws://127.0.0.1:{free_port()}", f"--state-dir={state_dir}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "docklord", *args],
        stdout=secondary,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(secondary)
    shown = bytearray()
    try:
        identity = await eventually(
            lambda: _identity(state_dir), timeout=20, what="identity stored"
        )

        async def password_shown() -> bool:
            while select.select([primary], [], [], 0)[0]:
                shown.extend(os.read(primary, 4096))
            return identity["password"].encode() in shown

        await eventually(password_shown, timeout=10, what="the password on the terminal")
        assert shown.count(identity["password"].encode()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        os.close(primary)
