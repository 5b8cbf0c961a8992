"""The node agent: follows the local Docker Engine and links to a coordinator."""

from __future__ import annotations

from docklord.node._agent import FATAL_REJECTIONS, NodeAgent
from docklord.node._handlers import ChannelHandler, Method
from docklord.node._identity import NodeIdentity, load_identity, save_identity
from docklord.node._operations import Operations
from docklord.node._ops_instances import InstanceSettings
from docklord.node._watcher import Watcher

__all__ = [
    "FATAL_REJECTIONS",
    "NodeAgent",
    "ChannelHandler",
    "InstanceSettings",
    "Method",
    "NodeIdentity",
    "Operations",
    "Watcher",
    "load_identity",
    "save_identity",
]
