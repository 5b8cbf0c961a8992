from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import structlog

from docklord.engine import Engine
from docklord.errors import InvalidInput, NotFound
from docklord.link import Channel
from docklord.node import (
    _ops_containers,
    _ops_images,
    _ops_instances,
    _ops_networks,
    _ops_streams,
    _ops_volumes,
)
from docklord.node._handlers import ChannelHandler, Method, serve
from docklord.node._ops_instances import InstanceSettings
from docklord.protocol import methods as m

__all__ = ["Operations"]

log = structlog.get_logger(__name__)


class Operations:
    """The node's side of every request and channel the coordinator may send.

    Each request method of ``docklord.protocol.methods`` maps to one handler that decodes the
    JSON arguments with the method's args type and returns a JSON-able result; errors from the
    error tree travel back to the caller with their code.
    The tables are assembled from the ``_ops_*`` modules, one per noun.

    Args:
        engine: the node's engine.
        instances: how ``instances.*`` makes instances (the defaults when not given).
    """

    def __init__(self, engine: Engine, *, instances: InstanceSettings | None = None) -> None:
        self.engine = engine
        self.instances = instances or InstanceSettings()
        self._methods: dict[str, Method] = dict(
            [serve(m.PING, self._ping), serve(m.ENGINE_INFO, self._info)]
        )
        self._channels: dict[str, ChannelHandler] = {}
        for module in (_ops_containers, _ops_images, _ops_volumes, _ops_networks, _ops_streams):
            self._add(module.methods(engine), module.channels(engine))
        self._add(_ops_instances.methods(engine, self.instances), {})

    def _add(self, methods: Mapping[str, Method], channels: Mapping[str, ChannelHandler]) -> None:
        for name in methods.keys() & self._methods.keys():
            raise ValueError(f"method {name} registered twice")
        self._methods.update(methods)
        self._channels.update(channels)

    @property
    def method_names(self) -> frozenset[str]:
        """Every request method this node serves."""
        return frozenset(self._methods)

    @property
    def channel_kinds(self) -> frozenset[str]:
        """Every channel kind this node serves."""
        return frozenset(self._channels)

    async def handle(self, method: str, args: Any) -> Any:
        """Serve one request."""
        handler = self._methods.get(method)
        if handler is None:
            raise InvalidInput(f"unknown method {method!r}")
        # The handler decodes ``args`` with the method's args type (InvalidInput when bad).
        return await handler(args)

    async def channel(self, channel: Channel) -> None:
        """Serve one channel until it ends."""
        handler = self._channels.get(channel.kind)
        if handler is None:
            raise NotFound(f"unknown channel kind {channel.kind!r}")
        await handler(channel)

    async def _ping(self, args: m.NoArgs) -> m.Pong:
        return m.Pong(pong=True)

    async def _info(self, args: m.NoArgs) -> m.Json:
        return dataclasses.asdict(await self.engine.info())
