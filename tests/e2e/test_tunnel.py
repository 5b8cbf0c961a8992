"""The Docker API tunnel: the unmodified docker CLI and docker-py through the coordinator."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker as docker_sdk
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from docklord.testing import TEST_LABEL, TEST_RUN, eventually, free_port, unique_name

from .conftest import store_of
from .test_logs_stats import StreamFleet, running_fleet

pytestmark = pytest.mark.e2e

BUSYBOX = "docklord-test/busybox:latest"


@pytest.fixture(scope="module")
async def stream_fleet(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[StreamFleet]:
    """One coordinator and one node for the whole module."""
    async with running_fleet(tmp_path_factory, docker_host) as fleet:
        yield fleet


async def start_tunnel(fleet: StreamFleet, listen: str, token: str | None = None) -> Tunnel:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")}
    env["DOCKLORD_TOKEN"] = token or fleet.token
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "docklord",
        "tunnel",
        fleet.node_id,
        f"--coordinator={fleet.coordinator.url}",
        f"--listen={listen}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Tunnel(proc)


class Tunnel:
    """A running ``docklord tunnel`` process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def docker_host(self) -> str:
        """The address it prints as ``export DOCKER_HOST=...``."""
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
        assert line.startswith("export DOCKER_HOST="), line + await self.errors()
        return line.strip().split("=", 1)[1]

    async def errors(self) -> str:
        assert self.proc.stderr is not None
        return (await asyncio.wait_for(self.proc.stderr.read(), 30)).decode()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture
async def tcp_tunnel(stream_fleet: StreamFleet) -> AsyncIterator[str]:
    tunnel = await start_tunnel(stream_fleet, f"127.0.0.1:{free_port()}")
    try:
        yield await tunnel.docker_host()
    finally:
        await tunnel.stop()


async def docker_cli(host: str, *args: str, stdin: bytes | None = None) -> str:
    """Run the real docker CLI against ``host``; fail with its stderr if it fails."""
    env = {**os.environ, "DOCKER_HOST": host}
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode == 0, (args, err.decode())
    return out.decode()


@contextmanager
def removing(*names: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


async def test_the_docker_cli_works_through_the_tunnel(
    stream_fleet: StreamFleet, tcp_tunnel: str, docker: Callable[..., str]
) -> None:
    label = f"--label={TEST_LABEL}={TEST_RUN}"
    name = unique_name("tun")
    with removing(name):
        run = ["run", "-d", "--name", name, label, BUSYBOX, "sh", "-c", "echo ready; sleep 120"]
        container_id = (await docker_cli(tcp_tunnel, *run)).strip()
        assert docker("inspect", "-f", "{{.Id}}", name) == container_id
        assert name in await docker_cli(tcp_tunnel, "ps", "-a", "--format", "{{.Names}}")
        await eventually(
            lambda: _logs_say(tcp_tunnel, name, "ready\n"), what="the container's output"
        )
        assert await docker_cli(tcp_tunnel, "exec", name, "echo", "x") == "x\n"
        # stdin, then a half-close: cat ends and its output still comes back.
        piped = await docker_cli(tcp_tunnel, "exec", "-i", name, "cat", stdin=b"through\n")
        assert piped == "through\n"
    said = await docker_cli(tcp_tunnel, "run", "--rm", label, BUSYBOX, "echo", "hi")
    assert said == "hi\n"
    counted = await docker_cli(
        tcp_tunnel, "run", "--rm", "-i", label, BUSYBOX, "wc", "-l", stdin=b"1\n2\n3\n"
    )
    assert counted.strip() == "3"
    await eventually(lambda: _no_tunnels(stream_fleet), what="every tunnel channel closed")


async def _logs_say(host: str, name: str, text: str) -> bool:
    return await docker_cli(host, "logs", name) == text


async def _no_tunnels(fleet: StreamFleet) -> bool:
    return (await fleet.active_streams())["tunnel"] == 0


async def test_pull_from_a_registry_through_the_tunnel(
    tcp_tunnel: str, registry: str, docker: Callable[..., str]
) -> None:
    image = f"{registry}/docklord-test/busybox:latest"
    try:
        progress = await docker_cli(tcp_tunnel, "pull", image)
        assert "Downloaded newer image" in progress or "Image is up to date" in progress
        assert docker("image", "inspect", "-f", "{{.Id}}", image).startswith("sha256:")
    finally:
        await docker_cli(tcp_tunnel, "rmi", image)


async def test_docker_py_lists_containers_through_the_tunnel(
    tcp_tunnel: str, labelled_container: Callable[..., str]
) -> None:
    name = labelled_container("sleep", "120")

    def listed() -> set[str]:
        client = docker_sdk.DockerClient(base_url=tcp_tunnel, timeout=30)
        try:
            return {c.name for c in client.containers.list(all=True)}
        finally:
            client.close()

    assert name in await asyncio.to_thread(listed)


async def test_a_unix_socket_tunnel_for_the_owner_only(
    stream_fleet: StreamFleet, tmp_path: Path
) -> None:
    path = tmp_path / "docker.sock"
    tunnel = await start_tunnel(stream_fleet, f"unix://{path}")
    try:
        host = await tunnel.docker_host()
        assert host == f"unix://{path}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "CONTAINER ID" in await docker_cli(host, "ps")
    finally:
        await tunnel.stop()
    assert not path.exists()


async def test_refusals(stream_fleet: StreamFleet) -> None:
    bad = await start_tunnel(stream_fleet, f"127.0.0.1:{free_port()}", token="not-a-token")
    assert await asyncio.wait_for(bad.proc.wait(), 30) != 0
    assert "refused the token" in await bad.errors()
    remote = await start_tunnel(stream_fleet, f"0.0.0.0:{free_port()}")  # noqa: S104
    assert await asyncio.wait_for(remote.proc.wait(), 30) != 0
    assert "not a loopback address" in await remote.errors()

    path = f"/api/v1/nodes/{stream_fleet.node_id}/docker/ws"
    async with websockets.connect(stream_fleet.ws_url(path)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with stream_fleet.connect("/api/v1/nodes/no-such-node/docker/ws") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404

    async with store_of(stream_fleet.coordinator) as store:
        await store.create_user("tunnel-operator", "operator-password-1", "operator")
        entries = await store.list_audit(action="node.docker_tunnel")
    outcomes = {(e.target_node, e.result, e.actor) for e in entries}
    assert (stream_fleet.node_id, "ok", "user:admin") in outcomes
    assert ("no-such-node", "error: not_found", "user:admin") in outcomes
    login = await asyncio.to_thread(
        stream_fleet.coordinator.login, "tunnel-operator", "operator-password-1"
    )
    headers = {"Authorization": f"Bearer {login}"}
    async with websockets.connect(stream_fleet.ws_url(path), additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_docker_py_attach_without_a_stream_gets_the_output(
    tcp_tunnel: str, labelled_container: Callable[..., str], docker_host: str
) -> None:
    # stream=0&logs=1: the engine answers the hijacked attach with the output so far, then
    # closes. The output arrives right behind the response headers.
    name = labelled_container("sh", "-c", "echo attached-1; echo attached-2; sleep 120")
    expected = b"attached-1\nattached-2\n"

    def attach(base_url: str) -> bytes:
        client = docker_sdk.DockerClient(base_url=base_url, timeout=30)
        try:
            output = client.api.attach(name, stream=False, logs=True)
            assert isinstance(output, bytes)
            return output
        finally:
            client.close()

    async def direct() -> bool:
        return await asyncio.to_thread(attach, docker_host) == expected

    await eventually(direct, what="the output written, as the engine itself answers")
    for _ in range(5):
        assert await asyncio.to_thread(attach, tcp_tunnel) == expected
