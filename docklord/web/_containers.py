"""Container lifecycle through the coordinator: create, inspect, actions, top, exec, remove.

Every route resolves the container reference against the live fleet cache
(:meth:`Coordinator.container_ref`: an offline node answers 503 at once, an ambiguous prefix
409 listing the matches) and then asks the node over its link; the node's engine has the last
word. Mutating routes write one audit entry each, on success and on failure.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from starlette.requests import HTTPConnection

from docklord.coordinator import container_json
from docklord.errors import InvalidInput, NotFound, PermissionDenied
from docklord.model import ContainerSummary, PortBinding
from docklord.protocol import methods
from docklord.protocol.methods import MAX_STOP_TIMEOUT, MethodArgs, NodeMethod, signal_name
from docklord.web._audit import audited
from docklord.web._auth import Principal, Role, require_node
from docklord.web._container_policy import (
    check_create,
    reserved_label,
    reserved_name,
    resolve_visible,
)
from docklord.web._deps import coordinator_of

__all__ = [
    "StrictModel",
    "check_text",
    "no_lone_surrogates",
    "resolve",
    "router",
]

A = TypeVar("A", bound=MethodArgs)

router = APIRouter(prefix="/api/v1/nodes/{node}/containers", tags=["containers"])

Viewer = Annotated[Principal, Depends(require_node(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require_node(Role.OPERATOR))]

#: Seconds a node gets beyond the stop timeout (or the exec timeout) to answer.
MARGIN = 30.0
#: The engine refuses memory limits below 6 MiB.
MIN_MEMORY = 6 * 1024 * 1024
#: Label limits (characters per key and per value, UTF-8 bytes of all keys and values): labels
#: travel in every engine event of their container, and an event must stay small.
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 4096
MAX_LABELS_BYTES = 64 * 1024

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
IMAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]*$"
_REF = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SURROGATE = re.compile("[\ud800-\udfff]")
#: ``ps`` options a caller who may not see the environment may pass to ``top``: UNIX-style
#: options, BSD-style ones without ``e`` (which prints each process's environment), and
#: ``-o``/``o`` with a list of format keywords.
_PS_UNIX = re.compile(r"-[AadefFHjlLMTwxy]+")
_PS_BSD = re.compile(r"[aAfhjlmrsSTuvwxX]+")
_PS_FORMAT = frozenset(("-o", "o", "-O", "O"))
_PS_FIELDS = re.compile(r"[A-Za-z%_]+(?:,[A-Za-z%_]+)*")


# ---- request bodies -----------------------------------------------------------------------


def parse_memory(value: int | str) -> int:
    """Bytes from an int or a size like ``256m``, ``1.5g``, ``512MiB`` (binary units)."""
    if isinstance(value, int):
        size = value
    else:
        match = _MEMORY.fullmatch(value.strip())
        if match is None:
            raise ValueError("memory must be bytes or a size such as 256m, 512mb or 1.5g")
        number, unit = match.groups()
        size = int(float(number) * 1024 ** _UNITS[unit.lower()])
    if size < MIN_MEMORY:
        raise ValueError("memory must be at least 6m (the engine's minimum)")
    return size


def _check_env(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise ValueError(f"invalid environment variable {key!r}")
    return env


def no_lone_surrogates(value: Any) -> Any:
    """``value`` (a string, or a list or dict of them, nested) unless it holds a lone surrogate.

    JSON may spell one (``"\\ud800"``) but UTF-8 cannot: it could reach neither the node nor
    the engine.
    """
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise ValueError("text must not contain a lone surrogate (\\ud800-\\udfff)")
    elif isinstance(value, list | tuple):
        for item in value:
            no_lone_surrogates(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            no_lone_surrogates(key)
            no_lone_surrogates(item)
    return value


def check_text(field: str, value: Any) -> None:
    """:func:`no_lone_surrogates` for text outside a request body (a WebSocket message).

    Raises:
        InvalidInput: naming ``field``.
    """
    try:
        no_lone_surrogates(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}") from None


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    total = 0
    for key, value in labels.items():
        if not key or "\0" in key + value:
            raise ValueError("label keys must not be empty; no NUL characters")
        if len(key) > MAX_LABEL_KEY:
            raise ValueError(f"label key {key[:40]!r}... is over {MAX_LABEL_KEY} characters")
        if len(value) > MAX_LABEL_VALUE:
            raise ValueError(f"label {key[:40]!r} has a value over {MAX_LABEL_VALUE} characters")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_LABELS_BYTES:
        raise ValueError(f"labels are over {MAX_LABELS_BYTES} bytes in all (keys and values)")
    return labels


def _check_args(args: list[str]) -> list[str]:
    if any("\0" in arg for arg in args):
        raise ValueError("arguments must not contain NUL characters")
    return args


Env = Annotated[dict[str, str], AfterValidator(_check_env), Field(max_length=1000)]
Labels = Annotated[dict[str, str], AfterValidator(_check_labels), Field(max_length=1000)]
ArgList = Annotated[list[str], AfterValidator(_check_args), Field(max_length=1000)]
AbsPath = Annotated[str, Field(pattern=r"^/", max_length=4096)]
UserName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$", max_length=256)]


class StrictModel(BaseModel):
    """A request body: unknown fields, type coercion and lone surrogates are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return no_lone_surrogates(value)


class PortIn(StrictModel):
    """A port to publish."""

    container_port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    host_ip: str = Field(default="", max_length=64, description='"" binds every address')
    host_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("host_ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        if value:
            ipaddress.ip_address(value)
        return value


class MountIn(StrictModel):
    """A bind mount (host path) or a named volume."""

    source: str = Field(min_length=1, max_length=4096)
    target: AbsPath
    read_only: bool = False
    type: Literal["bind", "volume"] = "bind"

    @model_validator(mode="after")
    def _volume_name(self) -> MountIn:
        # A volume is named; a path there would be the engine's to interpret.
        if self.type == "volume" and not re.fullmatch(NAME_PATTERN, self.source):
            raise ValueError("source: a volume source is a volume name")
        return self


class ContainerCreate(StrictModel):
    """The body of ``POST /api/v1/nodes/{node}/containers``."""

    image: str = Field(min_length=1, max_length=512, pattern=IMAGE_PATTERN)
    name: str | None = Field(default=None, max_length=255, pattern=NAME_PATTERN)
    cmd: ArgList | None = None
    entrypoint: ArgList | None = None
    env: Env = Field(default_factory=dict)
    ports: list[PortIn] = Field(default_factory=list, max_length=200)
    mounts: list[MountIn] = Field(default_factory=list, max_length=200)
    labels: Labels = Field(default_factory=dict)
    restart_policy: Literal["no", "always", "unless-stopped", "on-failure"] = "no"
    restart_max_retries: int = Field(default=0, ge=0, le=10_000)
    cpus: float | None = Field(default=None, gt=0, le=4096)
    memory: int | str | None = Field(default=None, description="bytes, or a size like 256m")
    network: str | None = Field(default=None, max_length=255, pattern=NAME_PATTERN)
    tty: bool = False
    working_dir: AbsPath | None = None
    user: UserName | None = None
    hostname: str | None = Field(
        default=None, max_length=253, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"
    )
    start: bool = False

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_memory(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and reserved_name(value):
            raise ValueError("names starting with docklord-instance- are for instances")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(key for key in value if reserved_label(key))
        if reserved:
            raise ValueError(f"labels {reserved} are for instances (use /api/v1/instances)")
        return value

    @field_validator("restart_max_retries")
    @classmethod
    def _retries(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("restart_policy") != "on-failure":
            raise ValueError("only applies to restart_policy 'on-failure'")
        return value

    def audit_params(self) -> dict[str, Any]:
        """What the audit log keeps: everything but environment values (maybe secrets)."""
        params = self.model_dump(exclude_none=True, exclude={"env"})
        params["env_keys"] = sorted(self.env)
        return params


class ExecIn(StrictModel):
    """The body of ``POST .../containers/{ref}/exec`` (one-shot)."""

    cmd: ArgList = Field(min_length=1)
    env: Env = Field(default_factory=dict)
    workdir: AbsPath | None = None
    user: UserName | None = None
    timeout: float = Field(default=30.0, gt=0, le=3600, description="seconds")

    @field_validator("cmd")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program (first argument) must not be empty")
        return value


Timeout = Annotated[
    int | None, Query(ge=0, le=MAX_STOP_TIMEOUT, description="seconds before SIGKILL")
]
Signal = Annotated[
    str, Query(max_length=20, description="SIGKILL, KILL, 9..."), AfterValidator(signal_name)
]


# ---- responses ----------------------------------------------------------------------------

_SUMMARY_FIELDS = frozenset(f.name for f in dataclasses.fields(ContainerSummary))
_CONFIG_KEYS = ("cmd", "entrypoint", "working_dir", "user", "tty", "open_stdin", "hostname")
_HOST_CONFIG_KEYS = ("restart_policy", "restart_max_retries", "memory", "nano_cpus", "binds")


def summary_from_json(doc: Mapping[str, Any]) -> ContainerSummary:
    """A :class:`ContainerSummary` from the JSON a node sends (``dataclasses.asdict``)."""
    values = {k: v for k, v in doc.items() if k in _SUMMARY_FIELDS}
    values["ports"] = tuple(PortBinding(**p) for p in doc.get("ports") or ())
    return ContainerSummary(**values)


def details_json(
    node: str, doc: Mapping[str, Any], *, reveal_env: bool, raw: bool
) -> dict[str, Any]:
    """The inspect answer: the fleet summary plus ``config``, ``host_config``, ``mounts``..."""
    env: dict[str, str] = dict(doc.get("env") or {})
    nano_cpus = doc.get("nano_cpus")
    body = container_json(node, summary_from_json(doc["summary"]))
    body["config"] = {key: doc.get(key) for key in _CONFIG_KEYS}
    body["config"]["env"] = env if reveal_env else dict.fromkeys(env, "***")
    body["host_config"] = {key: doc.get(key) for key in _HOST_CONFIG_KEYS}
    body["host_config"]["cpus"] = nano_cpus / 1e9 if nano_cpus else None
    body["mounts"] = doc.get("mounts") or []
    body["networks"] = doc.get("networks") or {}
    body["pid"] = doc.get("pid")
    if raw:
        body["raw"] = doc.get("raw") or {}
    return body


async def resolve(request: HTTPConnection, principal: Principal, node: str, ref: str) -> str:
    """The container id (or, for an admin, a ref for the engine to resolve) of ``ref``.

    An instance's container is ``NotFound`` to anyone but an admin (see
    ``docklord.web._container_policy``).
    """
    if not _REF.fullmatch(ref):
        raise NotFound(f"no such container: {ref}")
    return await resolve_visible(coordinator_of(request), principal, node, ref)


def check_ps_args(principal: Principal, ps_args: str | None) -> None:
    """Refuse ``ps`` options that print the environment to a caller who may not see it.

    Raises:
        RequestValidationError: ``422`` naming ``ps_args``.
    """
    if ps_args is None or principal.role >= Role.OPERATOR or _safe_ps_args(ps_args.split()):
        return
    message = (
        "without the operator role, ps_args may hold UNIX options (-ef), BSD options without"
        " e (aux) and -o with format keywords (-o pid,user,args)"
    )
    raise RequestValidationError(
        [{"loc": ("query", "ps_args"), "msg": message, "type": "value_error"}]
    )


def _safe_ps_args(tokens: list[str]) -> bool:
    at = 0
    while at < len(tokens):
        token = tokens[at]
        if token in _PS_FORMAT:
            if at + 1 == len(tokens) or not _PS_FIELDS.fullmatch(tokens[at + 1]):
                return False
            at += 2
        elif _PS_UNIX.fullmatch(token) or _PS_BSD.fullmatch(token):
            at += 1
        else:
            return False
    return True


# ---- routes -------------------------------------------------------------------------------


@router.post("", status_code=201)
async def create_container(
    node: str, body: ContainerCreate, principal: Operator, request: Request
) -> dict[str, Any]:
    """Create a container (and start it with ``start: true``)."""
    coordinator = coordinator_of(request)
    async with audited(
        request, principal, "container.create", node=node, target=body.name,
        params=body.audit_params(),
    ) as entry:  # fmt: skip
        await check_create(coordinator, principal, node, body)
        args = methods.CreateArgs.from_json(body.model_dump(exclude_none=True))
        result = await coordinator.call(node, methods.CONTAINERS_CREATE, args)
        entry.target = result.id
    return {"id": result.id, "name": result.name, "node_id": node, "started": result.started}


@router.get("/{ref}")
async def inspect_container(
    node: str,
    ref: str,
    principal: Viewer,
    request: Request,
    raw: Annotated[bool, Query(description="include the engine's inspect document")] = False,
) -> dict[str, Any]:
    """Everything about one container; environment values only for operators."""
    operator = principal.role >= Role.OPERATOR
    if raw and not operator:
        raise PermissionDenied("raw inspect needs the operator role (it shows the environment)")
    container = await resolve(request, principal, node, ref)
    args = methods.InspectArgs(ref=container, raw=raw)
    doc = await coordinator_of(request).call(node, methods.CONTAINERS_INSPECT, args)
    return details_json(node, doc, reveal_env=operator, raw=raw)


@router.delete("/{ref}", status_code=204)
async def remove_container(
    node: str,
    ref: str,
    principal: Operator,
    request: Request,
    force: bool = False,
    volumes: Annotated[bool, Query(description="also remove anonymous volumes")] = False,
) -> Response:
    """Remove a container; a running one needs ``force=true``."""
    params = {"force": force, "volumes": volumes}
    async with audited(
        request, principal, "container.remove", node=node, target=ref, params=params
    ) as entry:
        entry.target = await resolve(request, principal, node, ref)
        args = methods.RemoveArgs(ref=entry.target, force=force, volumes=volumes)
        result = await coordinator_of(request).call(node, methods.CONTAINERS_REMOVE, args)
        entry.target = result.id
    return Response(status_code=204)


async def _act(
    request: Request,
    principal: Principal,
    node: str,
    ref: str,
    method: NodeMethod[A, methods.ContainerState],
    args_for: Callable[[str], A],
    params: dict[str, Any],
    timeout: float | None = None,  # noqa: ASYNC109 - travels to the node with the request
) -> dict[str, Any]:
    action = method.name.removeprefix("containers.")
    async with audited(
        request, principal, f"container.{action}", node=node, target=ref, params=params or None
    ) as entry:
        entry.target = await resolve(request, principal, node, ref)
        args = args_for(entry.target)
        result = await coordinator_of(request).call(node, method, args, timeout=timeout)
        entry.target = result.id
    return {"id": result.id, "node_id": node, "action": action, "state": result.state}


@router.post("/{ref}/start")
async def start_container(
    node: str, ref: str, principal: Operator, request: Request
) -> dict[str, Any]:
    """Start a container; answers its state afterwards."""
    return await _act(request, principal, node, ref, methods.CONTAINERS_START, methods.RefArgs, {})


@router.post("/{ref}/stop")
async def stop_container(
    node: str,
    ref: str,
    principal: Operator,
    request: Request,
    timeout: Timeout = None,  # noqa: ASYNC109 - the query parameter travels to the engine
) -> dict[str, Any]:
    """Stop a container: SIGTERM, then SIGKILL after ``timeout`` s (default: its own)."""
    deadline = (MAX_STOP_TIMEOUT if timeout is None else timeout) + MARGIN
    return await _act(
        request, principal, node, ref, methods.CONTAINERS_STOP,
        lambda found: methods.StopArgs(found, timeout), {"timeout": timeout}, deadline,
    )  # fmt: skip


@router.post("/{ref}/restart")
async def restart_container(
    node: str,
    ref: str,
    principal: Operator,
    request: Request,
    timeout: Timeout = None,  # noqa: ASYNC109 - the query parameter travels to the engine
) -> dict[str, Any]:
    """Restart a container (stop as for ``stop``, then start)."""
    deadline = (MAX_STOP_TIMEOUT if timeout is None else timeout) + MARGIN
    return await _act(
        request, principal, node, ref, methods.CONTAINERS_RESTART,
        lambda found: methods.StopArgs(found, timeout), {"timeout": timeout}, deadline,
    )  # fmt: skip


@router.post("/{ref}/kill")
async def kill_container(
    node: str, ref: str, principal: Operator, request: Request, signal: Signal = "SIGKILL"
) -> dict[str, Any]:
    """Send a signal to a running container's main process (default SIGKILL)."""
    return await _act(
        request, principal, node, ref, methods.CONTAINERS_KILL,
        lambda found: methods.KillArgs(found, signal), {"signal": signal},
    )  # fmt: skip


@router.post("/{ref}/pause")
async def pause_container(
    node: str, ref: str, principal: Operator, request: Request
) -> dict[str, Any]:
    """Freeze every process of a running container."""
    return await _act(request, principal, node, ref, methods.CONTAINERS_PAUSE, methods.RefArgs, {})


@router.post("/{ref}/unpause")
async def unpause_container(
    node: str, ref: str, principal: Operator, request: Request
) -> dict[str, Any]:
    """Thaw a paused container."""
    unpause = methods.CONTAINERS_UNPAUSE
    return await _act(request, principal, node, ref, unpause, methods.RefArgs, {})


@router.get("/{ref}/top")
async def top_container(
    node: str,
    ref: str,
    principal: Viewer,
    request: Request,
    ps_args: Annotated[
        str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9 ,=_-]*$", description="ps args")
    ] = None,
) -> dict[str, Any]:
    """The processes of a running container: ``{"titles": [...], "processes": [[...]]}``."""
    check_ps_args(principal, ps_args)
    args = methods.TopArgs(ref=await resolve(request, principal, node, ref), ps_args=ps_args)
    result = await coordinator_of(request).call(node, methods.CONTAINERS_TOP, args)
    return {"titles": result["titles"], "processes": result["processes"]}


@router.post("/{ref}/exec")
async def exec_in_container(
    node: str, ref: str, body: ExecIn, principal: Operator, request: Request
) -> dict[str, Any]:
    """Run a command to completion (or ``timeout``) and answer its exit code and output."""
    params = body.model_dump(exclude_none=True, exclude={"env"})
    params["env_keys"] = sorted(body.env)
    async with audited(
        request, principal, "container.exec", node=node, target=ref, params=params
    ) as entry:
        entry.target = await resolve(request, principal, node, ref)
        args = methods.ExecArgs(
            ref=entry.target, cmd=body.cmd, env=body.env, workdir=body.workdir,
            user=body.user, timeout=body.timeout,
        )  # fmt: skip
        result = await coordinator_of(request).call(
            node, methods.CONTAINERS_EXEC, args, timeout=body.timeout + MARGIN
        )
    return result.to_json()
