"""Session fixtures: the real Docker Engine, the test images, a local registry, cleanup.

The engine comes from ``DOCKER_HOST`` (``scripts/test`` provides one). With ``CI=true`` a
missing engine fails the run; elsewhere, engine tests fail with the same clear message.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docklord.testing import TEST_LABEL, TEST_RUN, free_port

BUSYBOX = "docklord-test/busybox:latest"
INSTANCE_IMAGE = "docklord/instance:latest"
_USED_ENGINE: list[str] = []
#: Engine objects without the test label that existed when the run started.
_UNLABELLED_AT_START: set[str] = set()


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=120
    )


def pytest_configure(config: pytest.Config) -> None:
    """Lists what the session-end guard protects, before any test runs.

    A worker that listed it at its first engine test counted what another worker's test had
    made for the moment (an instance container carries no test label), and failed the run
    when that was gone at the end. So the xdist controller lists it once, before the workers
    start, and hands it to them (:func:`pytest_configure_node`).
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        _UNLABELLED_AT_START.update(workerinput.get("docklord_unlabelled", ()))
    elif os.environ.get("DOCKER_HOST") and shutil.which("docker"):
        _UNLABELLED_AT_START.update(_unlabelled_objects())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: each worker gets the controller's list."""
    node.workerinput["docklord_unlabelled"] = sorted(_UNLABELLED_AT_START)


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The address of the real engine under test."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        pytest.fail("DOCKER_HOST is not set: run the suite with ./scripts/test")
    probe = _docker("version", "--format", "{{.Server.Version}}", check=False)
    if probe.returncode != 0:
        pytest.fail(f"no Docker Engine answers at {host}: {probe.stderr.strip()}")
    _USED_ENGINE.append(host)
    return host


@pytest.fixture(scope="session")
def busybox_image(docker_host: str) -> str:
    """A busybox image built locally by scripts/test-images (no registry needed)."""
    if _docker("image", "inspect", BUSYBOX, check=False).returncode != 0:
        pytest.fail(f"{BUSYBOX} is missing: run ./scripts/test-images")
    return BUSYBOX


@pytest.fixture(scope="session")
def instance_image(docker_host: str) -> str:
    """The instance image (Debian with sshd) built locally by scripts/instance-image."""
    if _docker("image", "inspect", INSTANCE_IMAGE, check=False).returncode != 0:
        pytest.fail(f"{INSTANCE_IMAGE} is missing: run ./scripts/instance-image")
    return INSTANCE_IMAGE


@pytest.fixture(scope="session")
def registry(busybox_image: str) -> Iterator[str]:
    """A private ``docker-registry`` on 127.0.0.1 holding ``docklord-test/busybox:latest``.

    Yields the registry address (``127.0.0.1:PORT``); the engine treats loopback registries as
    insecure, so plain HTTP works without daemon configuration.
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: run ./scripts/test-images")
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="docklord-registry-"))
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("docker-registry did not start")
            time.sleep(0.05)
        pushed = f"{address}/docklord-test/busybox:latest"
        _docker("tag", busybox_image, pushed)
        _docker("push", pushed)
        _docker("rmi", pushed)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _listed(*args: str) -> set[str]:
    return set(_docker(*args, check=False).stdout.split())


def _unlabelled_objects() -> set[str]:
    """Every container, image (by id and by tag), volume and network not labelled for tests.

    Returned as ``"kind:identifier"`` strings, so that a set difference names what went away.
    """
    label = f"label={TEST_LABEL}"  # made by any test run, this one or another
    found: set[str] = set()
    listings = {
        "container": (["ps", "-aq", "--no-trunc"], ["ps", "-aq", "--no-trunc", "--filter", label]),
        "image": (
            ["image", "ls", "-a", "-q", "--no-trunc"],
            ["image", "ls", "-a", "-q", "--no-trunc", "--filter", label],
        ),
        "volume": (["volume", "ls", "-q"], ["volume", "ls", "-q", "--filter", label]),
        "network": (
            ["network", "ls", "-q", "--no-trunc"],
            ["network", "ls", "-q", "--no-trunc", "--filter", label],
        ),
    }
    for kind, (everything, labelled) in listings.items():
        found |= {f"{kind}:{name}" for name in _listed(*everything) - _listed(*labelled)}
    tags = _listed("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    labelled_tags = _listed(
        "image", "ls", "--filter", label, "--format", "{{.Repository}}:{{.Tag}}"
    )
    found |= {f"tag:{tag}" for tag in tags - labelled_tags if "<none>" not in tag}
    return found


def _remove_labelled() -> None:
    label = f"label={TEST_LABEL}={TEST_RUN}"
    ids = _docker("ps", "-aq", "--filter", label, check=False).stdout.split()
    if ids:
        _docker("rm", "-f", "-v", *ids, check=False)
    for kind in ("volume", "network"):
        names = _docker(kind, "ls", "-q", "--filter", label, check=False).stdout.split()
        if names:
            _docker(kind, "rm", *names, check=False)


@pytest.fixture(scope="session", autouse=True)
def _cleanup_engine_objects() -> Iterator[None]:
    """Removes what this run labelled (``docklord.test=<TEST_RUN>``) after the session, even
    after failures.

    Then it guards what the suite must never touch: if any container, image, tag, volume or
    network without the test label that was there when the run started is
    gone, the session fails and names it.
    """
    yield
    # Only a session that used the engine cleans it, so that a quick unit-test run does not
    # remove what another session on the same engine is still using.
    if not (_USED_ENGINE and shutil.which("docker")):
        return
    _remove_labelled()
    gone = _UNLABELLED_AT_START - _unlabelled_objects()
    if gone:
        pytest.fail(
            "the test session removed engine objects it did not create (no "
            f"{TEST_LABEL} label): {', '.join(sorted(gone))}"
        )
