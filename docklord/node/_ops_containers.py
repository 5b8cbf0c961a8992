"""Container lifecycle: the node's ``containers.*`` request methods.

Every method takes the typed arguments of one link request (``docklord.protocol.methods``
decodes and checks them before the engine is asked), calls the engine and answers a typed
result or JSON made by :func:`to_json` (``docklord.node._handlers``), the one place where
engine dataclasses become JSON documents. Images, volumes and networks are served by
``_ops_images``, ``_ops_volumes`` and ``_ops_networks``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import structlog

from docklord.engine import Engine
from docklord.errors import Conflict, DocklordError, NotFound
from docklord.model import ContainerState, ExecResult
from docklord.node._handlers import ChannelHandler, Method, serve, to_json
from docklord.protocol import methods as m
from docklord.protocol.methods import Json, container_spec

__all__ = ["MAX_EXEC_OUTPUT", "channels", "container_spec", "methods", "to_json"]

log = structlog.get_logger(__name__)

#: Bytes of exec output kept per stream (the last ones); more sets ``truncated``.
MAX_EXEC_OUTPUT = 4 * 1024 * 1024
_LIVE = frozenset({ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING})


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


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module: ``containers.*``."""
    return _Containers(engine).table()


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module: none (images, volumes and networks have their own
    modules: ``_ops_images``, ``_ops_volumes``, ``_ops_networks``)."""
    return {}
