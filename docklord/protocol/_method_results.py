"""The typed answers of node request methods, and the instance methods' arguments."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Self

from docklord.errors import InvalidInput
from docklord.protocol._methods import MethodArgs, MethodResult
from docklord.protocol.readers import Args, get, opt_int, read_bool, read_str

__all__ = [
    "MAX_KEY",
    "MAX_OWNER",
    "CommandOutput",
    "ContainerState",
    "Created",
    "ExecOutput",
    "ImageRemoved",
    "InstanceArgs",
    "InstanceCreateArgs",
    "InstanceDeleted",
    "InstanceInfo",
    "InstanceList",
    "Pong",
    "Removed",
    "instance_id",
    "owner",
    "ssh_public_key",
]

MAX_OWNER = 128
MAX_KEY = 16 * 1024

_ID = re.compile(r"[0-9a-f]{16}")


def _int(doc: Args, key: str) -> int:
    value = opt_int(doc, key, -(2**63))
    if value is None:
        raise InvalidInput(f"{key} is required")
    return value


def _text(doc: Args, key: str) -> str:
    value = get(doc, key, (str,), "a string")
    return "" if value is None else str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Pong(MethodResult):
    """``ping``: the node is there."""

    pong: bool

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(pong=read_bool(doc, "pong"))


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerState(MethodResult):
    """A container after a lifecycle action (start, stop, kill...)."""

    id: str
    name: str
    state: str

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(id=read_str(doc, "id"), name=_text(doc, "name"), state=_text(doc, "state"))


@dataclasses.dataclass(frozen=True, slots=True)
class Created(MethodResult):
    """``containers.create``: the new container, and whether it was started."""

    id: str
    name: str
    started: bool

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        name, started = _text(doc, "name"), read_bool(doc, "started")
        return cls(id=read_str(doc, "id"), name=name, started=started)


@dataclasses.dataclass(frozen=True, slots=True)
class Removed(MethodResult):
    """``containers.remove``: the container that is gone."""

    id: str
    name: str

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(id=read_str(doc, "id"), name=_text(doc, "name"))


@dataclasses.dataclass(frozen=True, slots=True)
class ImageRemoved(MethodResult):
    """``images.remove``: the refs untagged and the ids deleted."""

    deleted: list[str]

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        deleted = get(doc, "deleted", (list,), "a list") or []
        if not all(isinstance(item, str) for item in deleted):
            raise InvalidInput("deleted must be a list of strings")
        return cls(deleted=list(deleted))


def _output(doc: Args) -> dict[str, Any]:
    return {
        "exit_code": opt_int(doc, "exit_code", -(2**63)),
        "stdout": _text(doc, "stdout"),
        "stderr": _text(doc, "stderr"),
        "timed_out": read_bool(doc, "timed_out"),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class CommandOutput(MethodResult):
    """``littlewings.command``: what the command wrote, and how it ended."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(**_output(doc))


@dataclasses.dataclass(frozen=True, slots=True)
class ExecOutput(CommandOutput):
    """``containers.exec``: as :class:`CommandOutput`, and whether output was cut."""

    truncated: bool

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(**_output(doc), truncated=read_bool(doc, "truncated"))


# ---- instances ----------------------------------------------------------------------------


def _required(args: Args, key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{key} is required and must be a string")
    return value


def instance_id(args: Args) -> str:
    """The ``instance_id`` argument: 16 lower-case hex digits."""
    value = _required(args, "instance_id")
    if not _ID.fullmatch(value):
        raise InvalidInput("instance_id must be 16 lower-case hexadecimal digits")
    return value


def owner(args: Args) -> str:
    """The ``owner`` argument: short printable text (it becomes a label value)."""
    value = _required(args, "owner")
    if len(value) > MAX_OWNER or not value.isprintable():
        raise InvalidInput(f"owner must be printable text of at most {MAX_OWNER} characters")
    return value


def ssh_public_key(args: Args) -> str:
    """The ``ssh_public_key`` argument as one ``authorized_keys`` line (no options).

    Raises:
        InvalidInput: not exactly one public key in OpenSSH format (``ssh-ed25519 AAAA...``).
    """
    value = _required(args, "ssh_public_key").strip()
    # One line only: a second line would be a second key, or options such as command="...".
    if len(value) > MAX_KEY or not value.isprintable():
        raise InvalidInput("ssh_public_key must be one line of an OpenSSH public key")
    # Loaded here, when a key is checked: cryptography costs an idle node about 7 MB.
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key  # noqa: PLC0415

    try:
        load_ssh_public_key(value.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInput("ssh_public_key is not an OpenSSH public key") from exc
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceArgs(MethodArgs):
    """``instances.start``/``stop``/``delete``: which instance."""

    instance_id: str

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(instance_id=instance_id(args))


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceCreateArgs(MethodArgs):
    """``instances.create``: the id the coordinator reserved, its owner and their key."""

    instance_id: str
    owner: str
    ssh_public_key: str

    @classmethod
    def from_json(cls, args: Args) -> Self:
        return cls(
            instance_id=instance_id(args), owner=owner(args), ssh_public_key=ssh_public_key(args)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceInfo(MethodResult):
    """One instance as its node sees it; ``ports`` maps ssh/http/https to host ports."""

    instance_id: str
    container_id: str
    name: str
    state: str
    ports: dict[str, int]

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        ports = get(doc, "ports", (dict,), "an object") or {}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ports.values()):
            raise InvalidInput("ports must map names to port numbers")
        return cls(
            instance_id=_text(doc, "instance_id"),
            container_id=_text(doc, "container_id"),
            name=_text(doc, "name"),
            state=_text(doc, "state"),
            ports={str(k): int(v) for k, v in ports.items()},
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceDeleted(MethodResult):
    """``instances.delete``: the instance that is gone."""

    instance_id: str
    deleted: bool

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        return cls(instance_id=_text(doc, "instance_id"), deleted=read_bool(doc, "deleted"))


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceList(MethodResult):
    """``instances.list``: every instance on the node, and the node's instance settings."""

    instances: list[InstanceInfo]
    max_instances: int
    port_base: int

    @classmethod
    def from_json(cls, doc: Args) -> Self:
        listed = get(doc, "instances", (list,), "a list") or []
        if not all(isinstance(item, dict) for item in listed):
            raise InvalidInput("instances must be a list of objects")
        return cls(
            instances=[InstanceInfo.from_json(item) for item in listed],
            max_instances=_int(doc, "max_instances"),
            port_base=_int(doc, "port_base"),
        )
