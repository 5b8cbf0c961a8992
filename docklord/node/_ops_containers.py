"""Container lifecycle, images, volumes and networks: the node's request methods.

Every method takes the typed arguments of one link request (``docklord.protocol.methods``
decodes and checks them before the engine is asked), calls the engine and answers a typed
result or JSON made by :func:`to_json`, the one place where engine dataclasses become JSON
documents. Image pulls stream their progress
over an ``images.pull`` channel, one JSON document per line.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import structlog

from docklord.engine import Engine
from docklord.errors import Conflict, DocklordError, EngineError, NotFound
from docklord.link import Channel
from docklord.model import ContainerState, ExecResult, ImageSummary
from docklord.node._handlers import ChannelHandler, Method, serve, serve_channel
from docklord.protocol import methods as m
from docklord.protocol import resolve_ref
from docklord.protocol.methods import Json, container_spec

__all__ = ["MAX_EXEC_OUTPUT", "channels", "container_spec", "methods", "to_json"]

log = structlog.get_logger(__name__)

#: Bytes of exec output kept per stream (the last ones); more sets ``truncated``.
MAX_EXEC_OUTPUT = 4 * 1024 * 1024
_LIVE = frozenset({ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING})


def to_json(value: Any) -> Any:
    """An engine dataclass (or a list of them) as a JSON-able document.

    Exec results carry bytes, so they have their own conversion (:func:`_exec_json`).
    """
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _exec_output(result: ExecResult) -> m.ExecOutput:
    out, err = result.stdout, result.stderr
    return m.ExecOutput(
        exit_code=result.exit_code,
        stdout=out[-MAX_EXEC_OUTPUT:].decode("utf-8", errors="replace"),
        stderr=err[-MAX_EXEC_OUTPUT:].decode("utf-8", errors="replace"),
        timed_out=result.timed_out,
        truncated=len(out) > MAX_EXEC_OUTPUT or len(err) > MAX_EXEC_OUTPUT,
    )


def _exec_json(result: ExecResult) -> Json:
    return _exec_output(result).to_json()


# ---- containers -------------------------------------------------------------------------


class _Containers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.CONTAINERS_CREATE, self.create),
                serve(m.CONTAINERS_INSPECT, self.inspect),
                serve(m.CONTAINERS_START, self._simple("start")),
                serve(m.CONTAINERS_PAUSE, self._simple("pause")),
                serve(m.CONTAINERS_UNPAUSE, self._simple("unpause")),
                serve(m.CONTAINERS_STOP, self.stop),
                serve(m.CONTAINERS_RESTART, self.restart),
                serve(m.CONTAINERS_KILL, self.kill),
                serve(m.CONTAINERS_REMOVE, self.remove),
                serve(m.CONTAINERS_TOP, self.top),
                serve(m.CONTAINERS_EXEC, self.exec),
            ]
        )

    async def create(self, args: m.CreateArgs) -> m.Created:
        try:
            container_id = await self.engine.create_container(args.spec)
        except NotFound as exc:
            if exc.message.startswith("image "):
                raise NotFound(f"{exc.message} on this node: pull it first") from exc
            raise
        if args.start:
            try:
                await self.engine.start(container_id)
            except DocklordError:
                await self._discard(container_id)
                raise
        summary = await self.engine.get_summary(container_id)
        return m.Created(id=container_id, name=summary.name, started=args.start)

    async def _discard(self, container_id: str) -> None:
        """Remove a container that could not start, so that its name is free again."""
        try:
            await self.engine.remove(container_id, force=True, volumes=True)
        except DocklordError as exc:
            log.warning("containers.discard_failed", container=container_id, error=exc.message)

    async def inspect(self, args: m.InspectArgs) -> Json:
        details = await self.engine.inspect_container(args.ref)
        if not args.raw:
            details = dataclasses.replace(details, raw={})
        doc: Json = to_json(details)
        return doc

    def _simple(self, action: str) -> Callable[[m.RefArgs], Awaitable[m.ContainerState]]:
        async def run(args: m.RefArgs) -> m.ContainerState:
            await getattr(self.engine, action)(args.ref)
            return await self._state(args.ref)

        return run

    async def _state(self, ref: str) -> m.ContainerState:
        summary = await self.engine.get_summary(ref)
        return m.ContainerState(id=summary.id, name=summary.name, state=summary.state)

    async def stop(self, args: m.StopArgs) -> m.ContainerState:
        await self.engine.stop(args.ref, timeout=args.timeout)
        return await self._state(args.ref)

    async def restart(self, args: m.StopArgs) -> m.ContainerState:
        await self.engine.restart(args.ref, timeout=args.timeout)
        return await self._state(args.ref)

    async def kill(self, args: m.KillArgs) -> m.ContainerState:
        await self.engine.kill(args.ref, signal=args.signal)
        return await self._state(args.ref)

    async def remove(self, args: m.RemoveArgs) -> m.Removed:
        summary = await self.engine.get_summary(args.ref)
        if summary.state in _LIVE and not args.force:
            raise Conflict(
                f"container {summary.name} is {summary.state}: stop it first, "
                "or remove it with force=true"
            )
        await self.engine.remove(summary.id, force=args.force, volumes=args.volumes)
        return m.Removed(id=summary.id, name=summary.name)

    async def top(self, args: m.TopArgs) -> Json:
        doc: Json = to_json(await self.engine.top(args.ref, ps_args=args.ps_args))
        return doc

    async def exec(self, args: m.ExecArgs) -> m.ExecOutput:
        result = await self.engine.exec_run(
            args.ref,
            args.cmd,
            env=args.env or None,
            workdir=args.workdir,
            user=args.user,
            timeout=args.timeout,
        )
        return _exec_output(result)


# ---- images, volumes, networks ----------------------------------------------------------


class _Resources:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def table(self) -> dict[str, Method]:
        return dict(
            [
                serve(m.IMAGES_LIST, self.list_images),
                serve(m.IMAGES_REMOVE, self.remove_image),
                serve(m.IMAGES_PRUNE, self.prune_images),
                serve(m.VOLUMES_LIST, self.list_volumes),
                serve(m.VOLUMES_CREATE, self.create_volume),
                serve(m.VOLUMES_REMOVE, self.remove_volume),
                serve(m.VOLUMES_PRUNE, self.prune_volumes),
                serve(m.NETWORKS_LIST, self.list_networks),
                serve(m.NETWORKS_CREATE, self.create_network),
                serve(m.NETWORKS_REMOVE, self.remove_network),
            ]
        )

    async def list_images(self, args: m.NoArgs) -> Json:
        return {"images": to_json(await self.engine.list_images())}

    async def remove_image(self, args: m.ImageRemoveArgs) -> m.ImageRemoved:
        # The engine takes any id prefix, even "b": the one resolver decides what ref names
        # (4+ characters, unique), then the engine gets the ref as typed (a tag untags).
        resolve_ref(
            args.ref,
            await self.engine.list_images(),
            kind="image",
            id_of=lambda i: i.id,
            names_of=_image_names,
            describe=lambda i: {"id": i.id, "names": list(i.repo_tags)},
        )
        return m.ImageRemoved(await self.engine.remove_image(args.ref, force=args.force))

    async def prune_images(self, args: m.PruneArgs) -> Json:
        result = await self.engine.prune_images(
            dangling_only=args.dangling, filters=_label_filters(args)
        )
        doc: Json = to_json(result)
        return doc

    async def list_volumes(self, args: m.NoArgs) -> Json:
        return {"volumes": to_json(await self.engine.list_volumes())}

    async def create_volume(self, args: m.VolumeCreateArgs) -> Json:
        volume = await self.engine.create_volume(args.name, labels=args.labels, driver=args.driver)
        doc: Json = to_json(volume)
        return doc

    async def remove_volume(self, args: m.VolumeRemoveArgs) -> Json:
        await self.engine.remove_volume(args.name, force=args.force)
        return {"name": args.name}

    async def prune_volumes(self, args: m.PruneArgs) -> Json:
        doc: Json = to_json(await self.engine.prune_volumes(filters=_label_filters(args)))
        return doc

    async def list_networks(self, args: m.NoArgs) -> Json:
        return {"networks": to_json(await self.engine.list_networks())}

    async def create_network(self, args: m.NetworkCreateArgs) -> Json:
        network = await self.engine.create_network(
            args.name, driver=args.driver, labels=args.labels, internal=args.internal
        )
        doc: Json = to_json(network)
        return doc

    async def remove_network(self, args: m.RefArgs) -> Json:
        ref = args.ref
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

    async def pull(self, channel: Channel, args: m.PullArgs) -> None:
        """Pull an image, sending each progress message as one JSON line.

        The engine's error message is not forwarded: the pull's error closes the channel.
        """
        pulled = self.engine.pull(args.image)
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
    return dict([serve_channel(m.IMAGES_PULL, _Resources(engine).pull)])


def _label_filters(args: m.PruneArgs) -> dict[str, list[str]]:
    return {"label": list(args.labels)} if args.labels else {}


def _image_names(image: ImageSummary) -> set[str]:
    """What names an image: its tags (``:latest`` may be left out) and digests."""
    tags = set(image.repo_tags)
    return tags | {t.removesuffix(":latest") for t in tags} | set(image.repo_digests)
