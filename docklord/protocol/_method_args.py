"""The argument types of the node request methods (see ``docklord.protocol.methods``).

Each is a frozen dataclass whose ``from_json`` reads a request's JSON arguments with the one set
of readers (``_args``), raising ``InvalidInput`` that names the bad argument.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Self

from docklord.errors import InvalidInput
from docklord.model import ContainerSpec, MountSpec, PortSpec
from docklord.protocol._channels import COMMAND_TIMEOUT, MAX_COMMAND
from docklord.protocol._methods import (
    MAX_EXEC_TIMEOUT,
    MAX_STOP_TIMEOUT,
    Json,
    MethodArgs,
    signal_name,
    to_wire,
)
from docklord.protocol.readers import (
    Args,
    get,
    opt_float,
    opt_int,
    opt_str,
    read_bool,
    read_command,
    read_map,
    read_maps,
    read_str,
    read_strs,
)

__all__ = [
    "CommandArgs",
    "CreateArgs",
    "ExecArgs",
    "ImageRemoveArgs",
    "InspectArgs",
    "KillArgs",
    "NetworkCreateArgs",
    "NoArgs",
    "PruneArgs",
    "RefArgs",
    "RemoveArgs",
    "StopArgs",
    "TopArgs",
    "VolumeCreateArgs",
    "VolumeRemoveArgs",
    "container_spec",
]

_PS_ARGS = re.compile(r"[A-Za-z0-9 ,=_-]{0,100}")


# ---- arguments ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NoArgs(MethodArgs):
    """A method without arguments (any sent are ignored, as before)."""

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls()


@dataclasses.dataclass(frozen=True, slots=True)
class RefArgs(MethodArgs):
    """A container (or network) named by id, id prefix or name."""

    ref: str

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(ref=read_str(args, "ref"))


@dataclasses.dataclass(frozen=True, slots=True)
class InspectArgs(MethodArgs):
    """``containers.inspect``: ``raw`` adds the engine's own document."""

    ref: str
    raw: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(ref=read_str(args, "ref"), raw=read_bool(args, "raw"))


@dataclasses.dataclass(frozen=True, slots=True)
class StopArgs(MethodArgs):
    """``containers.stop``/``restart``: seconds before SIGKILL (the engine's default if none)."""

    ref: str
    timeout: int | None = None

    @classmethod
    def from_json(cls, args: Args) -> Self:
        timeout = opt_int(args, "timeout", 0, MAX_STOP_TIMEOUT)
        return cls(ref=read_str(args, "ref"), timeout=timeout)


@dataclasses.dataclass(frozen=True, slots=True)
class KillArgs(MethodArgs):
    """``containers.kill``: a signal name (``SIGTERM``, ``HUP``) or number."""

    ref: str
    signal: str = "SIGKILL"

    @classmethod
    def from_json(cls, args: Args) -> Self:
        given = opt_str(args, "signal") or "SIGKILL"
        try:
            signal = signal_name(given)
        except ValueError as exc:
            raise InvalidInput(f"invalid signal {given!r}: {exc}") from exc
        return cls(ref=read_str(args, "ref"), signal=signal)


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveArgs(MethodArgs):
    """``containers.remove``: ``force`` removes a live one, ``volumes`` its anonymous volumes."""

    ref: str
    force: bool = False
    volumes: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        force, volumes = read_bool(args, "force"), read_bool(args, "volumes")
        return cls(ref=read_str(args, "ref"), force=force, volumes=volumes)


@dataclasses.dataclass(frozen=True, slots=True)
class TopArgs(MethodArgs):
    """``containers.top``: ``ps`` options, a restricted alphabet."""

    ref: str
    ps_args: str | None = None

    @classmethod
    def from_json(cls, args: Args) -> Self:
        ps_args = opt_str(args, "ps_args")
        if ps_args is not None and not _PS_ARGS.fullmatch(ps_args):
            raise InvalidInput("ps_args may hold only letters, digits, spaces and ,=_-")
        return cls(ref=read_str(args, "ref"), ps_args=ps_args or None)


@dataclasses.dataclass(frozen=True, slots=True)
class ExecArgs(MethodArgs):
    """``containers.exec``: a one-shot command, its output collected."""

    ref: str
    cmd: list[str]
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_json(cls, args: Args) -> Self:
        timeout = opt_float(args, "timeout")
        if timeout is not None and not 0 < timeout <= MAX_EXEC_TIMEOUT:
            raise InvalidInput(f"timeout must be more than 0 and at most {MAX_EXEC_TIMEOUT:g} s")
        return cls(
            ref=read_str(args, "ref"),
            cmd=read_command(args),
            env=read_map(args, "env"),
            workdir=opt_str(args, "workdir"),
            user=opt_str(args, "user"),
            timeout=30.0 if timeout is None else timeout,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CommandArgs(MethodArgs):
    """``littlewings.command``: one line of shell, run as ``sh -c``."""

    ref: str
    command: str
    timeout: float

    @classmethod
    def from_json(cls, args: Args) -> Self:
        text = get(args, "command", (str,), "a string") or ""
        if not text.strip() or len(text) > MAX_COMMAND:
            raise InvalidInput(f"a command is 1 to {MAX_COMMAND} characters of text")
        timeout = opt_float(args, "timeout")
        timeout = COMMAND_TIMEOUT if timeout is None else timeout
        if not 0 < timeout <= MAX_EXEC_TIMEOUT:
            raise InvalidInput("timeout must be between 0 and 3600 seconds")
        return cls(ref=read_str(args, "ref"), command=text, timeout=timeout)


_CREATE_KEYS = frozenset(
    {
        "image", "name", "cmd", "entrypoint", "env", "ports", "mounts", "labels",
        "restart_policy", "restart_max_retries", "cpus", "memory", "network", "tty",
        "working_dir", "user", "hostname", "start",
    }
)  # fmt: skip


def _port(doc: Args) -> PortSpec:
    port = opt_int(doc, "container_port", 1, 65535)
    if port is None:
        raise InvalidInput("ports[].container_port is required")
    return PortSpec(
        container_port=port,
        protocol=opt_str(doc, "protocol") or "tcp",
        host_ip=opt_str(doc, "host_ip") or "",
        host_port=opt_int(doc, "host_port", 1, 65535),
    )


def _mount(doc: Args) -> MountSpec:
    kind = opt_str(doc, "type") or "bind"
    if kind not in ("bind", "volume"):
        raise InvalidInput(f"mount type must be 'bind' or 'volume', got {kind!r}")
    return MountSpec(
        source=read_str(doc, "source"),
        target=read_str(doc, "target"),
        read_only=read_bool(doc, "read_only"),
        type="volume" if kind == "volume" else "bind",
    )


def container_spec(args: Args) -> ContainerSpec:
    """The :class:`ContainerSpec` a ``containers.create`` request describes.

    Raises:
        InvalidInput: an unknown key, a value of the wrong type, or a value out of range.
    """
    unknown = sorted(set(args) - _CREATE_KEYS)
    if unknown:
        raise InvalidInput(f"unknown container settings: {', '.join(unknown)}")
    return ContainerSpec(
        image=read_str(args, "image"),
        name=opt_str(args, "name"),
        cmd=read_strs(args, "cmd"),
        entrypoint=read_strs(args, "entrypoint"),
        env=read_map(args, "env"),
        ports=[_port(p) for p in read_maps(args, "ports")],
        mounts=[_mount(m) for m in read_maps(args, "mounts")],
        labels=read_map(args, "labels"),
        restart_policy=opt_str(args, "restart_policy") or "no",
        restart_max_retries=opt_int(args, "restart_max_retries") or 0,
        cpus=opt_float(args, "cpus"),
        memory=opt_int(args, "memory", 1),
        network=opt_str(args, "network"),
        tty=read_bool(args, "tty"),
        working_dir=opt_str(args, "working_dir"),
        user=opt_str(args, "user"),
        hostname=opt_str(args, "hostname"),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CreateArgs(MethodArgs):
    """``containers.create``: the container, and whether to start it at once."""

    spec: ContainerSpec
    start: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(spec=container_spec(args), start=read_bool(args, "start"))

    def to_json(self) -> Json:
        # The spec's fields are the wire keys; open_stdin is for interactive use, never sent.
        doc: Json = to_wire(self.spec)
        doc = {k: v for k, v in doc.items() if k in _CREATE_KEYS and v is not None}
        return {**doc, "start": self.start}


def _label_filters(args: Args) -> list[str]:
    labels = read_strs(args, "labels") or []
    if not all(labels):
        raise InvalidInput("a label filter is 'key' or 'key=value'")
    return labels


@dataclasses.dataclass(frozen=True, slots=True)
class ImageRemoveArgs(MethodArgs):
    """``images.remove``: a tag untags, an id (4+ characters, unique) deletes."""

    ref: str
    force: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(ref=read_str(args, "ref"), force=read_bool(args, "force"))


@dataclasses.dataclass(frozen=True, slots=True)
class PruneArgs(MethodArgs):
    """``images.prune``/``volumes.prune``/``networks.prune``: label filters (``key`` or
    ``key=value``).

    ``dangling`` (images only): false prunes every image no container uses.
    """

    labels: list[str] = dataclasses.field(default_factory=list)
    dangling: bool = True

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(labels=_label_filters(args), dangling=read_bool(args, "dangling", True))


@dataclasses.dataclass(frozen=True, slots=True)
class VolumeCreateArgs(MethodArgs):
    """``volumes.create``: no name lets the engine pick one."""

    name: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    driver: str = "local"

    @classmethod
    def from_json(cls, args: Args) -> Self:
        driver = opt_str(args, "driver") or "local"
        return cls(name=opt_str(args, "name"), labels=read_map(args, "labels"), driver=driver)


@dataclasses.dataclass(frozen=True, slots=True)
class VolumeRemoveArgs(MethodArgs):
    """``volumes.remove``: by exact name."""

    name: str
    force: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(name=read_str(args, "name"), force=read_bool(args, "force"))


@dataclasses.dataclass(frozen=True, slots=True)
class NetworkCreateArgs(MethodArgs):
    """``networks.create``."""

    name: str
    driver: str = "bridge"
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    internal: bool = False

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(
            name=read_str(args, "name"),
            driver=opt_str(args, "driver") or "bridge",
            labels=read_map(args, "labels"),
            internal=read_bool(args, "internal"),
        )
