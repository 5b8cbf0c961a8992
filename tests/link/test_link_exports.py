"""The public surface of docklord.link is pinned (STYLE item 1)."""

from __future__ import annotations

import docklord.link


def test_link_exports() -> None:
    assert sorted(docklord.link.__all__) == sorted(
        [
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
    )


def test_every_export_is_documented() -> None:
    for name in docklord.link.__all__:
        assert getattr(docklord.link, name).__doc__, f"docklord.link.{name} has no docstring"
