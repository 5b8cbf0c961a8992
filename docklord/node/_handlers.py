"""The shapes of the node's handlers, apart from the registry that collects them.

The ``_ops_*`` modules define handlers of these types and :class:`~docklord.node.Operations`
registers them, so imports run one way: the registry imports the handler modules, never back.
A handler is written against the typed contract of ``docklord.protocol.methods``; :func:`serve`
makes it a wire-level :data:`Method` that decodes the JSON arguments with the method's args
type first, so a bad argument never reaches the handler; :func:`serve_channel` does the same
for a channel kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from docklord.link import Channel, ChannelHandler
from docklord.protocol.methods import ChannelKind, MethodArgs, NodeMethod, PruneArgs, to_wire

__all__ = ["ChannelHandler", "Method", "label_filters", "serve", "serve_channel", "to_json"]

A = TypeVar("A", bound=MethodArgs)
R = TypeVar("R")

#: A request handler on the wire: JSON arguments in, JSON-able result out.
Method = Callable[[Any], Awaitable[Any]]


def serve(method: NodeMethod[A, R], handler: Callable[[A], Awaitable[R]]) -> tuple[str, Method]:
    """``method``'s wire name and a handler that decodes its arguments, then calls ``handler``."""

    async def run(args: Any) -> Any:
        return to_wire(await handler(method.decode_args(args)))

    return method.name, run


def serve_channel(
    kind: ChannelKind[A], handler: Callable[[Channel, A], Awaitable[None]]
) -> tuple[str, ChannelHandler]:
    """``kind``'s wire name and a channel handler that decodes the channel's arguments with
    the kind's args type, then calls ``handler`` (a bad argument ends the channel at once)."""

    async def run(channel: Channel) -> None:
        await handler(channel, kind.decode_args(channel.args))

    return kind.name, run


def to_json(value: Any) -> Any:
    """An engine dataclass (or a list of them) as a JSON-able document: the one place where the
    handlers turn engine answers into JSON (exec results carry bytes and have their own)."""
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def label_filters(args: PruneArgs) -> dict[str, list[str]]:
    """The engine filters of a prune request (its labels; none: no filter)."""
    return {"label": list(args.labels)} if args.labels else {}
