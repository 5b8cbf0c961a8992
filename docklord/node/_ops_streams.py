from __future__ import annotations

from typing import TYPE_CHECKING

from docklord.engine import Engine

if TYPE_CHECKING:
    from docklord.node._operations import ChannelHandler, Method

__all__ = ["channels", "methods"]


def methods(engine: Engine) -> dict[str, Method]:
    """Request methods of this module."""
    return {}


def channels(engine: Engine) -> dict[str, ChannelHandler]:
    """Channel kinds of this module."""
    return {}
