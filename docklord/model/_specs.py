"""What a caller asks the engine to create: frozen, validated on construction.

Invalid values raise :class:`~docklord.errors.InvalidInput` when the spec is built, so a bad
request is refused before anything reaches the engine. Sequences are stored as tuples and
mappings as private copies, so a spec cannot change after it was validated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from docklord.errors import InvalidInput

__all__ = ["ContainerSpec", "FileEntry", "MountSpec", "PortSpec", "RESTART_POLICIES"]

#: The restart policies the engine knows.
RESTART_POLICIES = frozenset({"no", "always", "unless-stopped", "on-failure"})

_PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
_MOUNT_TYPES = frozenset({"bind", "volume"})


def _check_port(value: int, what: str) -> None:
    if not 1 <= value <= 65535:
        raise InvalidInput(f"{what} must be between 1 and 65535, got {value}")


@dataclass(frozen=True, slots=True)
class PortSpec:
    """Publish a container port on the host.

    Args:
        container_port: the port inside the container.
        protocol: ``tcp``, ``udp`` or ``sctp``.
        host_ip: the host address to bind (``""`` means every address; tests use 127.0.0.1).
        host_port: the host port; ``None`` lets the engine pick a free one.
    """

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None

    def __post_init__(self) -> None:
        _check_port(self.container_port, "container_port")
        if self.host_port is not None:
            _check_port(self.host_port, "host_port")
        if self.protocol not in _PROTOCOLS:
            raise InvalidInput(f"protocol must be one of {sorted(_PROTOCOLS)}")


@dataclass(frozen=True, slots=True)
class MountSpec:
    """Mount a host path (``bind``) or a named volume (``volume``) into the container.

    A bind source must exist on the engine's host (no directory is created for it).
    """

    source: str
    target: str
    read_only: bool = False
    type: Literal["bind", "volume"] = "bind"

    def __post_init__(self) -> None:
        if self.type not in _MOUNT_TYPES:
            raise InvalidInput(f"mount type must be 'bind' or 'volume', got {self.type!r}")
        if not self.target.startswith("/"):
            raise InvalidInput(f"mount target must be an absolute path, got {self.target!r}")
        if not self.source:
            raise InvalidInput("mount source must not be empty")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file or directory to write into a container (see ``Engine.put_files``).

    Args:
        path: where it goes, relative to the target directory (``.ssh/authorized_keys``);
            no ``..`` and no leading ``/``.
        content: the file's bytes (a directory has none).
        mode: permission bits (``0o600``).
        is_dir: a directory instead of a file.
        uid: the owner's user id inside the container.
        gid: the owner's group id inside the container.
    """

    path: str
    content: bytes = b""
    mode: int = 0o644
    is_dir: bool = False
    uid: int = 0
    gid: int = 0

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if not self.path or self.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"a file path is relative, without '.' or '..': {self.path!r}")
        if "\0" in self.path:
            raise InvalidInput("a file path must not contain NUL")
        if not 0 <= self.mode <= 0o7777:
            raise InvalidInput(f"file mode must be between 0 and 0o7777, got {self.mode:o}")
        if self.is_dir and self.content:
            raise InvalidInput(f"directory {self.path} cannot have content")
        if self.uid < 0 or self.gid < 0:
            raise InvalidInput("uid and gid must not be negative")


def _freeze(spec: object, name: str, value: object) -> None:
    object.__setattr__(spec, name, value)


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """A container to create.

    Args:
        image: the image reference; it must exist on the engine (pull it first).
        name: the container name; ``None`` lets the engine pick one.
        cmd: the command (replaces the image's ``CMD``).
        entrypoint: replaces the image's ``ENTRYPOINT`` (an empty sequence clears it).
        env: environment variables.
        ports: ports to publish.
        mounts: bind mounts and volumes.
        labels: container labels.
        restart_policy: ``no``, ``always``, ``unless-stopped`` or ``on-failure``.
        restart_max_retries: retry limit for ``on-failure`` (0 means unlimited).
        cpus: CPU limit in cores (``1.5`` = one and a half cores).
        memory: memory limit in bytes.
        network: a network to attach to (by name or id) instead of the default bridge.
        tty: allocate a pseudo-terminal (logs then carry no stdout/stderr distinction).
        open_stdin: keep stdin open.
        working_dir: the working directory of the command.
        user: ``user``, ``uid`` or ``uid:gid`` to run as.
        hostname: the container's host name.
    """

    image: str
    name: str | None = None
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ports: Sequence[PortSpec] = ()
    mounts: Sequence[MountSpec] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = "no"
    restart_max_retries: int = 0
    cpus: float | None = None
    memory: int | None = None
    network: str | None = None
    tty: bool = False
    open_stdin: bool = False
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None

    def __post_init__(self) -> None:
        self._validate()
        if self.cmd is not None:
            _freeze(self, "cmd", tuple(self.cmd))
        if self.entrypoint is not None:
            _freeze(self, "entrypoint", tuple(self.entrypoint))
        _freeze(self, "ports", tuple(self.ports))
        _freeze(self, "mounts", tuple(self.mounts))
        _freeze(self, "env", dict(self.env))
        _freeze(self, "labels", dict(self.labels))

    def _validate(self) -> None:
        if not self.image:
            raise InvalidInput("image must not be empty")
        if isinstance(self.cmd, str) or isinstance(self.entrypoint, str):
            raise InvalidInput("cmd and entrypoint must be sequences of arguments, not strings")
        if self.restart_policy not in RESTART_POLICIES:
            raise InvalidInput(f"restart_policy must be one of {sorted(RESTART_POLICIES)}")
        if self.restart_max_retries < 0:
            raise InvalidInput("restart_max_retries must not be negative")
        if self.restart_max_retries and self.restart_policy != "on-failure":
            raise InvalidInput("restart_max_retries only applies to restart_policy 'on-failure'")
        if self.cpus is not None and self.cpus <= 0:
            raise InvalidInput("cpus must be positive")
        if self.memory is not None and self.memory <= 0:
            raise InvalidInput("memory must be a positive number of bytes")
        for key in self.env:
            if not key or "=" in key:
                raise InvalidInput(f"invalid environment variable name {key!r}")
