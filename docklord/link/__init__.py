"""The node link: transports that carry ``Envelope`` frames and the session on top of them.

The coordinator and the node use only this package's API; the transport libraries
(``websockets``, Starlette, ``grpc``) are imported here and nowhere else in their logic::

    transport = await connect_websocket("wss://coordinator.example/api/v1/link")
    async with LinkSession(transport, dialer=True, on_request=serve) as session:
        await session.run()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from docklord.link._channel import Channel, ChannelHandler, ChannelState
from docklord.link._dial import dial
from docklord.link._memory import memory_pair
from docklord.link._requests import RequestHandler
from docklord.link._session import LinkSession, MessageHandler, SessionState
from docklord.link._settings import LinkSettings
from docklord.link._transport import Transport
from docklord.link._websocket import connect_websocket

if TYPE_CHECKING:
    from docklord.link._grpc import GrpcLinkServer, connect_grpc, tls_server_credentials
    from docklord.link._starlette import StarletteWebSocketTransport

#: Imported on first use: grpc costs a node that links over WebSocket about 8 MB of memory.
_LAZY = {name: "docklord.link._grpc" for name in ("GrpcLinkServer", "connect_grpc")}
_LAZY["tls_server_credentials"] = "docklord.link._grpc"
#: Only the coordinator accepts links: a node does not load Starlette (about 6 MB).
_LAZY["StarletteWebSocketTransport"] = "docklord.link._starlette"

__all__ = [
    "Channel",
    "ChannelHandler",
    "ChannelState",
    "GrpcLinkServer",
    "LinkSession",
    "LinkSettings",
    "MessageHandler",
    "RequestHandler",
    "SessionState",
    "StarletteWebSocketTransport",
    "Transport",
    "connect_grpc",
    "connect_websocket",
    "dial",
    "memory_pair",
    "tls_server_credentials",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
