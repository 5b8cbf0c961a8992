from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["CoordinatorProcess", "NodeProcess", "UpProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Process:
    """A ``docklord`` subprocess whose output goes to a log file the test can read."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.args = list(args)
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the process."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed args
                [sys.executable, "-m", "docklord", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM), then kill it if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> _Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKLORD_")}
    env.update(extra or {})
    return env


class _Server(_Process):
    """A process that serves the HTTP API on 127.0.0.1:``port``."""

    port: int
    admin_password: str

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT`` (what a node passes as ``--coordinator``)."""
        return f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until ``/readyz`` answers 200; fail with the log if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.args[0]} exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.args[0]} not ready after {timeout}s:\n{self.log()}")

    def login(self, username: str = "admin", password: str | None = None) -> str:
        """Log in and return a bearer token."""
        response = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": password or self.admin_password},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["token"])


class CoordinatorProcess(_Server):
    """``docklord coordinator`` on 127.0.0.1 with fresh ports and its own data dir."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        registration: str = "open",
        admin_password: str = "admin-test-password",  # noqa: S107 - throw-away test instance
        grpc: bool = True,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="docklord-coord-"))
        self.port = free_port()
        self.grpc_port = free_port() if grpc else 0
        self.admin_password = admin_password
        args = [
            "coordinator",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--grpc-port={self.grpc_port}",
            f"--data-dir={self.workdir / 'data'}",
            f"--registration={registration}",
            *extra_args,
        ]
        super().__init__(
            args,
            _env({"DOCKLORD_ADMIN_PASSWORD": admin_password, **(env or {})}),
            self.workdir / "coordinator.log",
        )

    @property
    def grpc_url(self) -> str:
        """``grpc://127.0.0.1:PORT``."""
        return f"grpc://127.0.0.1:{self.grpc_port}"


class UpProcess(_Server):
    """``docklord up`` (coordinator + local node in one process) with its own data dir."""

    def __init__(
        self,
        workdir: Path,
        *,
        docker_host: str,
        admin_password: str = "admin-test-password",  # noqa: S107 - throw-away test instance
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.admin_password = admin_password
        args = [
            "up",
            f"--port={self.port}",
            f"--data-dir={self.data_dir}",
            f"--docker-host={docker_host}",
            *extra_args,
        ]
        super().__init__(
            args, _env({"DOCKLORD_ADMIN_PASSWORD": admin_password}), workdir / "up.log"
        )


class NodeProcess(_Process):
    """``docklord node`` linked to a coordinator, with a fixed identity and its own state dir."""

    def __init__(
        self,
        coordinator_urls: Sequence[str],
        node_id: str,
        password: str,
        *,
        docker_host: str,
        workdir: Path | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="docklord-node-"))
        self.node_id = node_id
        self.password = password
        args = [
            "node",
            *(f"--coordinator={u}" for u in coordinator_urls),
            f"--node-id={node_id}",
            f"--docker-host={docker_host}",
            f"--state-dir={self.workdir / 'state'}",
            *extra_args,
        ]
        super().__init__(
            args, _env({"DOCKLORD_PASSWORD": password, **(env or {})}), self.workdir / "node.log"
        )
