"""The shapes of the node's handlers, apart from the registry that collects them.

The ``_ops_*`` modules define handlers of these types and :class:`~docklord.node.Operations`
registers them, so imports run one way: the registry imports the handler modules, never back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from docklord.link import ChannelHandler

__all__ = ["ChannelHandler", "Method"]

#: A request handler: JSON arguments in, JSON-able result out.
Method = Callable[[dict[str, Any]], Awaitable[Any]]
