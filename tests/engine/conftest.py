"""Fixtures for the engine layer's tests: a connected engine and labelled containers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from docklord.engine import Engine
from docklord.errors import NotFound
from docklord.model import ContainerSpec
from docklord.testing import TEST_LABEL, TEST_RUN, unique_name

from ._support import IDLE, MakeContainer


@pytest.fixture
async def engine(docker_host: str) -> AsyncIterator[Engine]:
    """A connected engine client for the engine under test."""
    async with Engine(docker_host) as connected:
        yield connected


@pytest.fixture
async def make_container(engine: Engine, busybox_image: str) -> AsyncIterator[MakeContainer]:
    """Creates busybox containers labelled ``docklord.test=<TEST_RUN>``; removes them after.

    ``await make_container(cmd=[...], start=True, **spec_fields)`` returns the id; every other
    keyword goes to :class:`ContainerSpec` (``name`` defaults to a unique name).
    """
    created: list[str] = []

    async def make(cmd: Sequence[str] | None = None, *, start: bool = True, **fields: Any) -> str:
        labels = {TEST_LABEL: TEST_RUN, **fields.pop("labels", {})}
        fields.setdefault("name", unique_name("engine"))
        spec = ContainerSpec(image=busybox_image, cmd=list(cmd or IDLE), labels=labels, **fields)
        container_id = await engine.create_container(spec)
        created.append(container_id)
        if start:
            await engine.start(container_id)
        return container_id

    yield make
    for container_id in created:
        with contextlib.suppress(NotFound):  # the test may have removed it itself
            await engine.remove(container_id, force=True, volumes=True)
