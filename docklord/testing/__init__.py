"""Test doubles and helpers shipped with Docklord, reused by its tests and benchmarks."""

from __future__ import annotations

from docklord.testing._asgi import AsgiWebSocket, WebSocketRefused
from docklord.testing._engine import ScriptedEngine
from docklord.testing._eventually import eventually
from docklord.testing._inprocess import InProcessFleet
from docklord.testing._names import TEST_LABEL, TEST_RUN, unique_name
from docklord.testing._processes import CoordinatorProcess, NodeProcess, UpProcess, free_port
from docklord.testing._proxy import TcpProxy
from docklord.testing._simnode import SimulatedNode
from docklord.testing._webhooks import ReceivedHook, WebhookReceiver

__all__ = [
    "TEST_LABEL",
    "TEST_RUN",
    "AsgiWebSocket",
    "CoordinatorProcess",
    "InProcessFleet",
    "NodeProcess",
    "ReceivedHook",
    "ScriptedEngine",
    "SimulatedNode",
    "TcpProxy",
    "UpProcess",
    "WebSocketRefused",
    "WebhookReceiver",
    "eventually",
    "free_port",
    "unique_name",
]
