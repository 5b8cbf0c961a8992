from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from docklord.engine import Engine
from docklord.errors import InvalidInput, NotFound
from docklord.link import Channel

__all__ = ["Operations"]

log = structlog.get_logger(__name__)

Handler = Callable[[Any], Awaitable[Any]]


class Operations:
    """The node's side of every request and channel the coordinator may send.

    Each request method maps to one handler taking the JSON arguments and returning a
    JSON-able result; errors from the error tree travel back to the caller with their code.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._methods: dict[str, Handler] = {
            "ping": self._ping,
            "engine.info": self._info,
        }
        self._channels: dict[str, Callable[[Channel], Awaitable[None]]] = {}

    async def handle(self, method: str, args: Any) -> Any:
        """Serve one request."""
        handler = self._methods.get(method)
        if handler is None:
            raise InvalidInput(f"unknown method {method!r}")
        return await handler(args if isinstance(args, dict) else {})

    async def channel(self, channel: Channel) -> None:
        """Serve one channel until it ends."""
        handler = self._channels.get(channel.kind)
        if handler is None:
            raise NotFound(f"unknown channel kind {channel.kind!r}")
        await handler(channel)

    async def _ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    async def _info(self, args: dict[str, Any]) -> dict[str, Any]:
        return dataclasses.asdict(await self.engine.info())
