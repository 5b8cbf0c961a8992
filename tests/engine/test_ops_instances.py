"""``instances.*`` on a real engine, straight through ``Operations`` (no coordinator).

Each test gets its own port base on 127.0.0.1, below the kernel's ephemeral range, with 30
free ports above it; every instance container is removed before and after each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from docklord.engine import Engine
from docklord.errors import Conflict, NotFound
from docklord.model import INSTANCE_LABEL, OWNER_LABEL, PORTS_LABEL
from docklord.node import InstanceSettings, Operations, _ops_instances
from docklord.node._ops_instances import port_is_free
from docklord.testing import eventually

HOST = "127.0.0.1"

#: ``make_ops(**settings)``: an ``Operations`` whose instance settings default to the test's.
MakeOps = Callable[..., Operations]


#: The port block of one test: its instances take ports from its base up.
BLOCK = 100


#: The bases already given out in this process: a base is not reused, so a test never meets
#: the connections of an earlier test's instances lingering on its ports.
_USED_BASES: set[int] = set()


def _pick_base() -> int:
    for _ in range(200):
        base = random.randrange(20000, 32000, BLOCK)
        if base in _USED_BASES:
            continue
        if all(port_is_free(HOST, port) for port in range(base, base + 30)):
            _USED_BASES.add(base)
            return base
    raise AssertionError("no 30 free ports between 20000 and 32000 on 127.0.0.1")


def _public_key(private: Ed25519PrivateKey, comment: str = "alice@laptop") -> str:
    raw = private.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    return f"{raw.decode()} {comment}"


KEY = _public_key(Ed25519PrivateKey.generate())


async def _remove_instances(engine: Engine, since: float) -> None:
    """Remove the instances made since ``since`` (by this test: ``scripts/test`` runs the tests
    that make instances one at a time, never beside each other); older ones, someone else's,
    stay."""
    for summary in await engine.list_containers(filters={"label": [INSTANCE_LABEL]}):
        if summary.created >= since:
            with contextlib.suppress(NotFound):
                await engine.remove(summary.id, force=True, volumes=True)


@pytest.fixture
async def make_ops(engine: Engine, instance_image: str) -> AsyncIterator[MakeOps]:
    """Builds node operations for instances on a fresh port base; cleans up its instances."""
    since = time.time() - 1  # the engine's creation times have a second's precision at worst
    base = _pick_base()

    def make(**settings: Any) -> Operations:
        values = {"image": instance_image, "port_base": base, "host_ip": HOST, **settings}
        return Operations(engine, instances=InstanceSettings(**values))

    yield make
    await _remove_instances(engine, since)


@contextlib.contextmanager
def _listening(port: int) -> Iterator[socket.socket]:
    """Another process's listener on ``port`` (as far as the node can tell).

    ``SO_REUSEADDR`` as servers (and the node's probe) set it: a connection lingering in
    TIME_WAIT on the port does not stop the bind, only a listener would.
    """
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind((HOST, port))
        held.listen()
        yield held


async def _create(ops: Operations, instance_id: str | None = None, **args: Any) -> dict[str, Any]:
    request = {
        "instance_id": instance_id or secrets.token_hex(8),
        "owner": "alice",
        "ssh_public_key": KEY,
        **args,
    }
    answer: dict[str, Any] = await ops.handle("instances.create", request)
    return answer


def _ports(first: int) -> dict[str, int]:
    return {"ssh": first, "http": first + 1, "https": first + 2}


async def _sh(engine: Engine, ref: str, script: str) -> str:
    result = await engine.exec_run(ref, ["sh", "-c", script])
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode()


async def _banner(port: int) -> bool:
    with contextlib.suppress(OSError):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            async with asyncio.timeout(5):
                line = await reader.readline()
        finally:
            writer.close()
        assert line.startswith(b"SSH-2.0-"), line
        return True
    raise AssertionError(f"nothing answers on port {port}")


async def test_create_publishes_a_block_installs_the_key_and_runs_sshd(
    engine: Engine, make_ops: MakeOps, tmp_path: Path
) -> None:
    ops = make_ops()
    base = ops.instances.port_base
    private = Ed25519PrivateKey.generate()
    public = _public_key(private, "bob@desk")
    instance_id = secrets.token_hex(8)
    created = await _create(ops, instance_id, owner="bob", ssh_public_key=f"  {public}\n")
    assert created == {
        "instance_id": instance_id,
        "container_id": created["container_id"],
        "name": f"docklord-instance-{instance_id}",
        "state": "running",
        "ports": _ports(base),
    }
    summary = await engine.get_summary(created["container_id"])
    assert summary.labels[INSTANCE_LABEL] == instance_id
    assert (summary.labels[OWNER_LABEL], summary.labels[PORTS_LABEL]) == ("bob", str(base))
    published = {(p.private_port, p.host_ip, p.host_port) for p in summary.ports}
    assert published == {(22, HOST, base), (80, HOST, base + 1), (443, HOST, base + 2)}
    ref = created["container_id"]
    assert await _sh(engine, ref, "cat /root/.ssh/authorized_keys") == public + "\n"
    modes = await _sh(engine, ref, "stat -c '%a %u' /root/.ssh /root/.ssh/authorized_keys")
    assert modes.split("\n") == ["700 0", "600 0", ""]
    await eventually(lambda: _banner(base), timeout=30, what="the sshd banner")

    identity = tmp_path / "id_ed25519"
    identity.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    identity.chmod(0o600)

    async def login() -> bool:
        ssh = await asyncio.create_subprocess_exec(
            "ssh", "-i", str(identity), "-p", str(base),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
            f"root@{HOST}", "cat /etc/debian_version",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await ssh.communicate()
        assert ssh.returncode == 0, err.decode()
        return bool(out.strip())

    await eventually(login, timeout=30, what="an SSH login with the owner's key")


async def test_blocks_are_consecutive_and_skip_ports_held_elsewhere(make_ops: MakeOps) -> None:
    ops = make_ops()
    base = ops.instances.port_base
    with _listening(base):
        first = await _create(ops)
        second = await _create(ops)
    assert first["ports"] == _ports(base + 1)
    assert second["ports"] == _ports(base + 4)
    await eventually(lambda: _banner(base + 4), timeout=30, what="the second sshd")


async def test_concurrent_creates_get_distinct_blocks(make_ops: MakeOps) -> None:
    ops = make_ops()
    base = ops.instances.port_base
    created = await asyncio.gather(*(_create(ops) for _ in range(3)))
    firsts = sorted(c["ports"]["ssh"] for c in created)
    assert firsts == [base, base + 3, base + 6]
    assert all(c["state"] == "running" for c in created)


async def test_ports_the_engine_finds_busy_move_to_the_next_block(
    engine: Engine, make_ops: MakeOps, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops()
    base = ops.instances.port_base
    # The node's own probe is blinded, so only the engine notices the listener at start.
    monkeypatch.setattr(_ops_instances, "port_is_free", lambda host, port: True)
    with _listening(base + 1):
        created = await _create(ops)
    assert created["ports"] == _ports(base + 3)
    listed = await engine.list_containers(filters={"label": [INSTANCE_LABEL]})
    assert [c.id for c in listed] == [created["container_id"]]


async def test_stop_keeps_data_and_ports_and_start_brings_sshd_back(
    engine: Engine, make_ops: MakeOps
) -> None:
    ops = make_ops()
    base = ops.instances.port_base
    created = await _create(ops)
    instance = {"instance_id": created["instance_id"]}
    await _sh(engine, created["container_id"], "echo kept > /root/notes.txt")

    stopped = await ops.handle("instances.stop", instance)
    assert stopped == {**created, "state": "exited"}
    started = await ops.handle("instances.start", instance)
    assert started == {**created, "state": "running"}
    assert await _sh(engine, created["container_id"], "cat /root/notes.txt") == "kept\n"
    await eventually(lambda: _banner(base), timeout=30, what="sshd after a restart")
    # A stopped instance keeps its block: the next instance goes above it.
    await ops.handle("instances.stop", instance)
    assert (await _create(ops))["ports"] == _ports(base + 3)


async def test_start_fails_clearly_when_another_process_took_a_port(
    make_ops: MakeOps,
) -> None:
    ops = make_ops()
    created = await _create(ops)
    instance = {"instance_id": created["instance_id"]}
    await ops.handle("instances.stop", instance)
    with (
        _listening(created["ports"]["https"]),
        pytest.raises(Conflict, match=f"a port of instance {created['instance_id']} is in use"),
    ):
        await ops.handle("instances.start", instance)
    assert (await ops.handle("instances.start", instance))["state"] == "running"


async def test_delete_frees_the_block_and_list_shows_the_rest(make_ops: MakeOps) -> None:
    ops = make_ops(max_instances=5)
    base = ops.instances.port_base
    first, second, third = [await _create(ops) for _ in range(3)]
    gone = {"instance_id": second["instance_id"]}
    assert await ops.handle("instances.delete", gone) == {**gone, "deleted": True}
    with pytest.raises(NotFound, match=f"^no such instance: {second['instance_id']}$"):
        await ops.handle("instances.delete", gone)
    reused = await _create(ops)
    assert reused["ports"] == _ports(base + 3)
    await ops.handle("instances.stop", {"instance_id": third["instance_id"]})
    listing = await ops.handle("instances.list", {})
    assert listing == {
        "instances": [first, reused, {**third, "state": "exited"}],
        "max_instances": 5,
        "port_base": base,
    }


async def test_the_node_maximum_and_duplicate_ids_are_conflicts(make_ops: MakeOps) -> None:
    ops = make_ops(max_instances=2)
    first = await _create(ops)
    with pytest.raises(Conflict, match=f"instance {first['instance_id']} already exists"):
        await _create(ops, first["instance_id"])
    await _create(ops)
    with pytest.raises(Conflict, match="already has its maximum of 2 instances"):
        await _create(ops)
    with pytest.raises(Conflict, match="maximum of 0 instances"):
        await _create(make_ops(max_instances=0))


async def test_missing_image_and_unknown_instances_are_not_found(
    engine: Engine, make_ops: MakeOps
) -> None:
    ops = make_ops(image="docklord-test/nope:missing")
    with pytest.raises(
        NotFound, match="^instance image docklord-test/nope:missing is not on this node$"
    ):
        await _create(ops)
    assert await engine.list_containers(filters={"label": [INSTANCE_LABEL]}) == []
    unknown = {"instance_id": secrets.token_hex(8)}
    for method in ("instances.start", "instances.stop", "instances.delete"):
        with pytest.raises(NotFound, match="^no such instance: "):
            await ops.handle(method, unknown)
    assert (await ops.handle("instances.list", {}))["instances"] == []
