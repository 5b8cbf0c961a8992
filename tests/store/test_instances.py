from __future__ import annotations

import asyncio

import pytest

from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.store import Instance, Role, Store

from .conftest import FakeClock

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv2 alice@laptop"


async def test_reserve_complete_get_list_and_delete(store: Store, clock: FakeClock) -> None:
    alice = await store.create_user("alice", "pw", Role.VIEWER)
    bob = await store.create_user("bob", "pw", Role.OPERATOR)
    reserved = await store.reserve_instance(alice.id, "node-1", KEY)
    assert isinstance(reserved, Instance) and len(reserved.id) == 16
    assert (reserved.owner, reserved.node_id, reserved.ssh_public_key) == ("alice", "node-1", KEY)
    assert reserved.container_id is None and reserved.ports is None
    assert reserved.created_at == clock.now

    await store.complete_instance(reserved.id, "c" * 64, 2000)
    done = await store.get_instance(reserved.id)
    assert done.container_id == "c" * 64
    assert done.ports == {"ssh": 2000, "http": 2001, "https": 2002}

    other = await store.reserve_instance(bob.id, "node-1", KEY)
    third = await store.reserve_instance(alice.id, "node-2", KEY)
    assert [i.id for i in await store.list_instances()] == [reserved.id, other.id, third.id]
    assert [i.id for i in await store.list_instances(user_id=alice.id)] == [reserved.id, third.id]
    assert await store.count_instances_by_node() == {"node-1": 2, "node-2": 1}

    await store.delete_instance(reserved.id)
    with pytest.raises(NotFound):
        await store.get_instance(reserved.id)
    with pytest.raises(NotFound):
        await store.delete_instance(reserved.id)
    with pytest.raises(NotFound):
        await store.complete_instance(reserved.id, "c" * 64, 2000)


async def test_one_instance_per_user_per_node_even_when_asked_at_once(store: Store) -> None:
    alice = await store.create_user("alice", "pw", Role.VIEWER)
    results = await asyncio.gather(
        *(store.reserve_instance(alice.id, "node-1", KEY) for _ in range(4)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, Instance)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(made) == 1 and len(refused) == 3
    assert "already have an instance on node node-1" in str(refused[0])


async def test_bad_input_and_unknown_users(store: Store) -> None:
    alice = await store.create_user("alice", "pw", Role.VIEWER)
    with pytest.raises(NotFound):
        await store.reserve_instance(alice.id + 100, "node-1", KEY)
    for node, key in (("", KEY), ("node-1", ""), ("n" * 129, KEY), ("node-1", "k" * 16_385)):
        with pytest.raises(InvalidInput):
            await store.reserve_instance(alice.id, node, key)
    assert await store.list_instances() == []


async def test_a_user_with_instances_cannot_be_deleted(store: Store) -> None:
    await store.create_user("root", "pw", Role.ADMIN)
    alice = await store.create_user("alice", "pw", Role.VIEWER)
    instance = await store.reserve_instance(alice.id, "node-1", KEY)
    with pytest.raises(Conflict, match="alice still has 1 instance"):
        await store.delete_user(alice.id)
    await store.delete_instance(instance.id)
    await store.delete_user(alice.id)


async def test_unfinished_instances_are_the_ones_without_a_container(store: Store) -> None:
    alice = await store.create_user("alice", "pw", Role.VIEWER)
    done = await store.reserve_instance(alice.id, "node-1", KEY)
    await store.complete_instance(done.id, "c" * 64, 2000)
    stuck = await store.reserve_instance(alice.id, "node-2", KEY)
    assert [i.id for i in await store.list_unfinished_instances()] == [stuck.id]
