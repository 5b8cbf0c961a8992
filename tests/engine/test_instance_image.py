"""The instance image: sshd accepts the owner's key only, and every instance has its own host keys.

Containers are driven with the ``docker`` CLI and reached with OpenSSH's client, the way a user
reaches an instance; the key goes in as an archive, as the node installs it.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from docklord.testing import TEST_LABEL, TEST_RUN, eventually, free_port, unique_name

#: ``await start_instance(public_key)`` returns ``(container_id, ssh_port)``.
StartInstance = Callable[[str], Awaitable[tuple[str, int]]]

_SSH_OPTIONS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
]  # fmt: skip


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(args), input=stdin, capture_output=True, timeout=30, check=False)


def _docker(*args: str, stdin: bytes | None = None) -> str:
    done = _run("docker", *args, stdin=stdin)
    assert done.returncode == 0, f"docker {args[0]}: {done.stderr.decode()}"
    return done.stdout.decode().strip()


def _authorized_keys_archive(public_key: str) -> bytes:
    """A tar of ``.ssh/authorized_keys`` owned by root, to unpack in ``/root``."""
    data = public_key.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo(".ssh")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(directory)
        keys = tarfile.TarInfo(".ssh/authorized_keys")
        keys.mode, keys.size = 0o600, len(data)
        tar.addfile(keys, io.BytesIO(data))
    return buffer.getvalue()


def _keygen(path: Path) -> Path:
    """A throwaway ed25519 key pair: the private key's path (``.pub`` next to it)."""
    done = _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path))
    assert done.returncode == 0, done.stderr.decode()
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """The owner's key pair (see :func:`_keygen`)."""
    return _keygen(tmp_path / "key")


@pytest.fixture
def start_instance(instance_image: str) -> Iterator[StartInstance]:
    """Creates and starts instance containers with a key; removes them after the test."""
    created: list[str] = []

    async def start(public_key: str) -> tuple[str, int]:
        port = free_port()
        container_id = _docker(
            "create", "--name", unique_name("instance"), "--label", f"{TEST_LABEL}={TEST_RUN}",
            "--publish", f"127.0.0.1:{port}:22", instance_image,
        )  # fmt: skip
        created.append(container_id)
        _docker("cp", "-", f"{container_id}:/root", stdin=_authorized_keys_archive(public_key))
        _docker("start", container_id)
        return container_id, port

    try:
        yield start
    finally:
        if created:
            _run("docker", "rm", "--force", "--volumes", *created)


def _ssh(port: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    return _run("ssh", "-p", str(port), *_SSH_OPTIONS, *args)


async def _host_key(container_id: str) -> str:
    """The container's ed25519 host public key, once its init script has generated it."""

    async def read() -> str:
        done = _run("docker", "exec", container_id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode().split()[1]

    return await eventually(read, timeout=30, what="the instance's host key")


async def test_the_owner_logs_in_with_the_key_and_nothing_else_gets_in(
    start_instance: StartInstance, key: Path, tmp_path: Path
) -> None:
    _, port = await start_instance(key.with_suffix(".pub").read_text())

    async def login() -> str:
        done = _ssh(port, "-i", str(key), "root@127.0.0.1", "echo", "hello")
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    assert await eventually(login, timeout=30, what="an SSH login with the key") == "hello\n"

    # Without the key, sshd offers no other method: passwords are not even asked for.
    refused = _ssh(port, "-o", "PreferredAuthentications=password", "root@127.0.0.1", "true")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr.decode()
    other = _keygen(tmp_path / "other")
    stranger = _ssh(port, "-i", str(other), "-o", "IdentitiesOnly=yes", "root@127.0.0.1", "true")
    assert stranger.returncode == 255
    assert "Permission denied (publickey)" in stranger.stderr.decode()


async def test_the_effective_sshd_configuration_is_keys_only(
    start_instance: StartInstance, key: Path
) -> None:
    container_id, _ = await start_instance(key.with_suffix(".pub").read_text())
    await _host_key(container_id)  # sshd -T needs the host keys
    settings = set(_docker("exec", container_id, "/usr/sbin/sshd", "-T").splitlines())
    assert {
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "permitrootlogin without-password",  # what sshd calls prohibit-password
        "pubkeyauthentication yes",
    } <= settings
    mode = _docker("exec", container_id, "stat", "-c", "%a %U", "/root/.ssh/authorized_keys")
    assert mode == "600 root"


async def test_every_instance_has_its_own_host_keys_and_keeps_them(
    start_instance: StartInstance, key: Path
) -> None:
    public_key = key.with_suffix(".pub").read_text()
    (first, first_port), (second, _) = [await start_instance(public_key) for _ in range(2)]
    first_key, second_key = await _host_key(first), await _host_key(second)
    assert first_key != second_key

    # The key sshd presents is the container's own.
    async def served() -> str:
        done = _run("ssh-keyscan", "-t", "ed25519", "-p", str(first_port), "127.0.0.1")
        assert done.returncode == 0 and done.stdout, done.stderr.decode()
        return done.stdout.decode().split()[2]

    assert await eventually(served, timeout=30, what="ssh-keyscan") == first_key

    # A restarted instance presents the same key, so its users' known_hosts stay valid.
    _docker("restart", first)
    assert await eventually(served, timeout=30, what="ssh-keyscan after restart") == first_key
