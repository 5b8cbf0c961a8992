"""The engine layer: a narrow, typed, async interface over the Docker Engine API.

Nothing outside this package talks to the engine or imports aiodocker/aiohttp; every value
that leaves it is a frozen dataclass from :mod:`docklord.model`, every error one of
:mod:`docklord.errors`.
"""

from __future__ import annotations

from docklord.engine._client import DEFAULT_DOCKER_HOST, MAX_API_VERSION, MIN_API_VERSION
from docklord.engine._engine import Engine
from docklord.engine._parse import human_duration
from docklord.engine._session import ExecSession

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "Engine",
    "ExecSession",
    "human_duration",
]
