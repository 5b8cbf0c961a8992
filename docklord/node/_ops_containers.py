"""Container lifecycle, images, volumes and networks: the node's request methods.

Every method takes the JSON arguments of one link request, checks them (``InvalidInput``
before the engine is asked), calls the engine and answers JSON made by :func:`to_json`, the
one place where engine dataclasses become JSON documents. Image pulls stream their progress
over an ``images.pull`` channel, one JSON document per line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import structlog

from docklord.engine import Engine
from docklord.errors import Conflict, DocklordError, EngineError, InvalidInput, NotFound
from docklord.link import Channel
from docklord.model import (
    ContainerSpec,
    ContainerState,
    ExecResult,
    ImageSummary,
    MountSpec,
    PortSpec,
)
from docklord.node._handlers import ChannelHandler, Method
from docklord.protocol import resolve_ref

__all__ = ["MAX_EXEC_OUTPUT", "channels", "methods", "to_json"]

log = structlog.get_logger(__name__)

Args = Mapping[str, Any]

#: Bytes of exec output kept per stream (the last ones); more sets ``truncated``.
MAX_EXEC_OUTPUT = 4 * 1024 * 1024
#: The longest stop/restart grace period and one-shot exec a caller may ask for (seconds).
MAX_STOP_TIMEOUT = 600
MAX_EXEC_TIMEOUT = 3600.0

_SIGNAL = re.compile(r"(SIG)?[A-Z][A-Z0-9+-]{0,15}|[1-9][0-9]?")
_PS_ARGS = re.compile(r"[A-Za-z0-9 ,=_-]{0,100}")
_LIVE = frozenset({ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING})
_CREATE_KEYS = frozenset(
    {
        "image", "name", "cmd", "entrypoint", "env", "ports", "mounts", "labels",
        "restart_policy", "restart_max_retries", "cpus", "memory", "network", "tty",
        "working_dir", "user", "hostname", "start",
    }
)  # fmt: skip


def to_json(value: Any) -> Any:
    """An engine dataclass (or a list of them) as a JSON-able document.

    Exec results carry bytes, so they have their own conversion (:func:`_exec_json`).
    """
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _exec_json(result: ExecResult) -> dict[str, Any]:
    out, err = result.stdout, result.stderr
    truncated = len(out) > MAX_EXEC_OUTPUT or len(err) > MAX_EXEC_OUTPUT
    return {
        "exit_code": result.exit_code,
        "stdout": out[-MAX_EXEC_OUTPUT:].decode("utf-8", errors="replace"),
        "stderr": err[-MAX_EXEC_OUTPUT:].decode("utf-8", errors="replace"),
        "timed_out": result.timed_out,
        "truncated": truncated,
    }


# ---- argument checks --------------------------------------------------------------------


def _get(args: Args, key: str, kinds: tuple[type, ...], what: str) -> Any:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) is not (bool in kinds) or not isinstance(value, kinds):
        raise InvalidInput(f"{key} must be {what}")
    return value


def _str(args: Args, key: str) -> str:
    value = _get(args, key, (str,), "a string")
    if not value:
        raise InvalidInput(f"{key} is required")
    return str(value)


def _opt_str(args: Args, key: str) -> str | None:
    value = _get(args, key, (str,), "a string")
    return None if value is None else str(value)


def _bool(args: Args, key: str, default: bool = False) -> bool:
    value = _get(args, key, (bool,), "true or false")
    return default if value is None else bool(value)


def _opt_int(args: Args, key: str, low: int = 0, high: int | None = None) -> int | None:
    value = _get(args, key, (int,), "an integer")
    if value is not None and value < low:
        raise InvalidInput(f"{key} must be at least {low}")
    if value is not None and high is not None and value > high:
        raise InvalidInput(f"{key} must be at most {high}")
    return None if value is None else int(value)


def _opt_float(args: Args, key: str) -> float | None:
    value = _get(args, key, (int, float), "a number")
    return None if value is None else float(value)


def _strs(args: Args, key: str) -> list[str] | None:
    value = _get(args, key, (list,), "a list of strings")
    if value is not None and not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key} must be a list of strings")
    return None if value is None else list(value)


def _map(args: Args, key: str) -> dict[str, str]:
    value = _get(args, key, (dict,), "an object of strings") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidInput(f"{key} must be an object of strings")
    return dict(value)


def _maps(args: Args, key: str) -> list[Args]:
    value = _get(args, key, (list,), "a list of objects") or []
    if not all(isinstance(v, dict) for v in value):
        raise InvalidInput(f"{key} must be a list of objects")
    return list(value)


def _label_filters(args: Args) -> dict[str, list[str]]:
    labels = _strs(args, "labels") or []
    if not all(labels):
        raise InvalidInput("a label filter is 'key' or 'key=value'")
    return {"label": labels} if labels else {}


def _port(doc: Args) -> PortSpec:
    port = _opt_int(doc, "container_port", 1, 65535)
    if port is None:
        raise InvalidInput("ports[].container_port is required")
    return PortSpec(
        container_port=port,
        protocol=_opt_str(doc, "protocol") or "tcp",
        host_ip=_opt_str(doc, "host_ip") or "",
        host_port=_opt_int(doc, "host_port", 1, 65535),
    )


def _mount(doc: Args) -> MountSpec:
    kind = _opt_str(doc, "type") or "bind"
    if kind not in ("bind", "volume"):
        raise InvalidInput(f"mount type must be 'bind' or 'volume', got {kind!r}")
    return MountSpec(
        source=_str(doc, "source"),
        target=_str(doc, "target"),
        read_only=_bool(doc, "read_only"),
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
        image=_str(args, "image"),
        name=_opt_str(args, "name"),
        cmd=_strs(args, "cmd"),
        entrypoint=_strs(args, "entrypoint"),
        env=_map(args, "env"),
        ports=[_port(p) for p in _maps(args, "ports")],
        mounts=[_mount(m) for m in _maps(args, "mounts")],
        labels=_map(args, "labels"),
        restart_policy=_opt_str(args, "restart_policy") or "no",
        restart_max_retries=_opt_int(args, "restart_max_retries") or 0,
        cpus=_opt_float(args, "cpus"),
        memory=_opt_int(args, "memory", 1),
        network=_opt_str(args, "network"),
        tty=_bool(args, "tty"),
        working_dir=_opt_str(args, "working_dir"),
        user=_opt_str(args, "user"),
        hostname=_opt_str(args, "hostname"),
    )


def _signal(args: Args) -> str:
    signal = (_opt_str(args, "signal") or "SIGKILL").upper()
    if not _SIGNAL.fullmatch(signal):
        raise InvalidInput(f"invalid signal {signal!r}")
    return signal


def _exec_timeout(args: Args) -> float:
    timeout = _opt_float(args, "timeout")
    if timeout is None:
        return 30.0
    if not 0 < timeout <= MAX_EXEC_TIMEOUT:
        raise InvalidInput(f"timeout must be more than 0 and at most {MAX_EXEC_TIMEOUT:g} s")
    return timeout


# ---- containers -------------------------------------------------------------------------


class _Containers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        simple = {"start", "pause", "unpause"}
        table: dict[str, Method] = {f"containers.{a}": self._simple(a) for a in simple}
        table.update(
            {
                "containers.create": self.create,
                "containers.inspect": self.inspect,
                "containers.stop": self.stop,
                "containers.restart": self.restart,
                "containers.kill": self.kill,
                "containers.remove": self.remove,
                "containers.top": self.top,
                "containers.exec": self.exec,
            }
        )
        return table

    async def create(self, args: Args) -> dict[str, Any]:
        spec = container_spec(args)
        start = _bool(args, "start")
        try:
            container_id = await self.engine.create_container(spec)
        except NotFound as exc:
            if exc.message.startswith("image "):
                raise NotFound(f"{exc.message} on this node: pull it first") from exc
            raise
        if start:
            try:
                await self.engine.start(container_id)
            except DocklordError:
                await self._discard(container_id)
                raise
        summary = await self.engine.get_summary(container_id)
        return {"id": container_id, "name": summary.name, "started": start}

    async def _discard(self, container_id: str) -> None:
        """Remove a container that could not start, so that its name is free again."""
        try:
            await self.engine.remove(container_id, force=True, volumes=True)
        except DocklordError as exc:
            log.warning("containers.discard_failed", container=container_id, error=exc.message)

    async def inspect(self, args: Args) -> dict[str, Any]:
        details = await self.engine.inspect_container(_str(args, "ref"))
        if not _bool(args, "raw"):
            details = dataclasses.replace(details, raw={})
        doc: dict[str, Any] = to_json(details)
        return doc

    def _simple(self, action: str) -> Method:
        async def run(args: Args) -> dict[str, Any]:
            ref = _str(args, "ref")
            await getattr(self.engine, action)(ref)
            return await self._state(ref)

        return run

    async def _state(self, ref: str) -> dict[str, Any]:
        summary = await self.engine.get_summary(ref)
        return {"id": summary.id, "name": summary.name, "state": summary.state}

    async def stop(self, args: Args) -> dict[str, Any]:
        ref = _str(args, "ref")
        await self.engine.stop(ref, timeout=_opt_int(args, "timeout", 0, MAX_STOP_TIMEOUT))
        return await self._state(ref)

    async def restart(self, args: Args) -> dict[str, Any]:
        ref = _str(args, "ref")
        await self.engine.restart(ref, timeout=_opt_int(args, "timeout", 0, MAX_STOP_TIMEOUT))
        return await self._state(ref)

    async def kill(self, args: Args) -> dict[str, Any]:
        ref = _str(args, "ref")
        await self.engine.kill(ref, signal=_signal(args))
        return await self._state(ref)

    async def remove(self, args: Args) -> dict[str, Any]:
        force = _bool(args, "force")
        summary = await self.engine.get_summary(_str(args, "ref"))
        if summary.state in _LIVE and not force:
            raise Conflict(
                f"container {summary.name} is {summary.state}: stop it first, "
                "or remove it with force=true"
            )
        await self.engine.remove(summary.id, force=force, volumes=_bool(args, "volumes"))
        return {"id": summary.id, "name": summary.name}

    async def top(self, args: Args) -> dict[str, Any]:
        ps_args = _opt_str(args, "ps_args")
        if ps_args is not None and not _PS_ARGS.fullmatch(ps_args):
            raise InvalidInput("ps_args may hold only letters, digits, spaces and ,=_-")
        processes = await self.engine.top(_str(args, "ref"), ps_args=ps_args or None)
        doc: dict[str, Any] = to_json(processes)
        return doc

    async def exec(self, args: Args) -> dict[str, Any]:
        cmd = _strs(args, "cmd")
        if not cmd or not cmd[0]:
            raise InvalidInput("cmd must be a non-empty list of arguments")
        result = await self.engine.exec_run(
            _str(args, "ref"),
            cmd,
            env=_map(args, "env") or None,
            workdir=_opt_str(args, "workdir"),
            user=_opt_str(args, "user"),
            timeout=_exec_timeout(args),
        )
        return _exec_json(result)


# ---- images, volumes, networks ----------------------------------------------------------


class _Resources:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return {
            "images.list": self.list_images,
            "images.remove": self.remove_image,
            "images.prune": self.prune_images,
            "volumes.list": self.list_volumes,
            "volumes.create": self.create_volume,
            "volumes.remove": self.remove_volume,
            "volumes.prune": self.prune_volumes,
            "networks.list": self.list_networks,
            "networks.create": self.create_network,
            "networks.remove": self.remove_network,
        }

    async def list_images(self, args: Args) -> dict[str, Any]:
        return {"images": to_json(await self.engine.list_images())}

    async def remove_image(self, args: Args) -> dict[str, Any]:
        ref, force = _str(args, "ref"), _bool(args, "force")
        # The engine takes any id prefix, even "b": the one resolver decides what ref names
        # (4+ characters, unique), then the engine gets the ref as typed (a tag untags).
        resolve_ref(
            ref,
            await self.engine.list_images(),
            kind="image",
            id_of=lambda i: i.id,
            names_of=_image_names,
            describe=lambda i: {"id": i.id, "names": list(i.repo_tags)},
        )
        return {"deleted": await self.engine.remove_image(ref, force=force)}

    async def prune_images(self, args: Args) -> dict[str, Any]:
        dangling = _bool(args, "dangling", default=True)
        result = await self.engine.prune_images(
            dangling_only=dangling, filters=_label_filters(args)
        )
        doc: dict[str, Any] = to_json(result)
        return doc

    async def list_volumes(self, args: Args) -> dict[str, Any]:
        return {"volumes": to_json(await self.engine.list_volumes())}

    async def create_volume(self, args: Args) -> dict[str, Any]:
        volume = await self.engine.create_volume(
            _opt_str(args, "name"),
            labels=_map(args, "labels"),
            driver=_opt_str(args, "driver") or "local",
        )
        doc: dict[str, Any] = to_json(volume)
        return doc

    async def remove_volume(self, args: Args) -> dict[str, Any]:
        name = _str(args, "name")
        await self.engine.remove_volume(name, force=_bool(args, "force"))
        return {"name": name}

    async def prune_volumes(self, args: Args) -> dict[str, Any]:
        doc: dict[str, Any] = to_json(await self.engine.prune_volumes(filters=_label_filters(args)))
        return doc

    async def list_networks(self, args: Args) -> dict[str, Any]:
        return {"networks": to_json(await self.engine.list_networks())}

    async def create_network(self, args: Args) -> dict[str, Any]:
        network = await self.engine.create_network(
            _str(args, "name"),
            driver=_opt_str(args, "driver") or "bridge",
            labels=_map(args, "labels"),
            internal=_bool(args, "internal"),
        )
        doc: dict[str, Any] = to_json(network)
        return doc

    async def remove_network(self, args: Args) -> dict[str, Any]:
        ref = _str(args, "ref")
        resolve_ref(
            ref,
            await self.engine.list_networks(),
            kind="network",
            id_of=lambda n: n.id,
            names_of=lambda n: (n.name,),
            describe=lambda n: {"id": n.id, "name": n.name},
        )
        try:
            await self.engine.remove_network(ref)
        except EngineError as exc:
            # The engine answers 403 while containers are attached: a conflict of state.
            if exc.details.get("status") == 403:
                raise Conflict(f"network {ref} is in use: {exc.message}") from exc
            raise
        return {"ref": ref}

    async def pull(self, channel: Channel) -> None:
        """Pull an image, sending each progress message as one JSON line.

        The engine's error message is not forwarded: the pull's error closes the channel.
        """
        args = channel.args if isinstance(channel.args, dict) else {}
        ref = _str(args, "image")
        pulled = self.engine.pull(ref)
        try:
            async for item in pulled:
                if item.error:
                    continue
                line = json.dumps(to_json(item), separators=(",", ":")) + "\n"
                await channel.send(line.encode())
        finally:
            # Ends the engine's request at once when the coordinator went away.
            if isinstance(pulled, AsyncGenerator):
                await pulled.aclose()


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module: ``containers.*``, ``images.*``, ``volumes.*``..."""
    return {**_Containers(engine).table(), **_Resources(engine).table()}


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module: ``images.pull``."""
    return {"images.pull": _Resources(engine).pull}


def _image_names(image: ImageSummary) -> set[str]:
    """What names an image: its tags (``:latest`` may be left out) and digests."""
    tags = set(image.repo_tags)
    return tags | {t.removesuffix(":latest") for t in tags} | set(image.repo_digests)
