"""Volumes and networks: create, list, remove, prune, error mapping."""

from __future__ import annotations

import time

import pytest

from docklord.engine import Engine
from docklord.errors import Conflict, EngineError, NotFound
from docklord.model import MountSpec
from docklord.testing import TEST_LABEL, TEST_RUN, unique_name

from ._support import MakeContainer


async def test_volume_lifecycle(engine: Engine, make_container: MakeContainer) -> None:
    name = unique_name("vol")
    volume = await engine.create_volume(name, labels={TEST_LABEL: TEST_RUN, "role": "data"})
    assert (volume.name, volume.driver, volume.labels["role"]) == (name, "local", "data")
    assert volume.mountpoint and volume.created == pytest.approx(time.time(), abs=60)
    assert name in {v.name for v in await engine.list_volumes()}
    ref = await make_container(mounts=[MountSpec(name, "/data", type="volume")])
    with pytest.raises(Conflict):
        await engine.remove_volume(name)
    await engine.remove(ref, force=True)
    await engine.remove_volume(name)
    assert name not in {v.name for v in await engine.list_volumes()}
    with pytest.raises(NotFound, match=f"no such volume: {name}"):
        await engine.remove_volume(name)


async def test_anonymous_volume_and_prune_by_label(engine: Engine) -> None:
    marker = unique_name("prune")
    labels = {TEST_LABEL: TEST_RUN, "docklord.test.prune": marker}
    anonymous = await engine.create_volume(labels=labels)
    assert len(anonymous.name) == 64
    result = await engine.prune_volumes(filters={"label": [f"docklord.test.prune={marker}"]})
    assert result.deleted == (anonymous.name,)
    assert anonymous.name not in {v.name for v in await engine.list_volumes()}


async def test_network_lifecycle(engine: Engine, make_container: MakeContainer) -> None:
    name = unique_name("net")
    network = await engine.create_network(name, labels={TEST_LABEL: TEST_RUN}, internal=True)
    assert (network.name, network.driver, network.scope) == (name, "bridge", "local")
    assert network.internal and network.labels == {TEST_LABEL: TEST_RUN} and network.id
    listed = {n.name: n for n in await engine.list_networks()}
    assert listed[name] == network and {"bridge", "host", "none"} <= set(listed)
    with pytest.raises(Conflict):
        await engine.create_network(name, labels={TEST_LABEL: TEST_RUN})
    ref = await make_container(network=name)
    details = await engine.inspect_container(ref)
    assert set(details.networks) == {name}
    with pytest.raises(EngineError, match="active endpoints"):
        await engine.remove_network(name)
    await engine.remove(ref, force=True)
    await engine.remove_network(network.id)
    with pytest.raises(NotFound, match=f"no such network: {name}"):
        await engine.remove_network(name)
