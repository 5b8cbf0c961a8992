"""Instance placement (``Coordinator.instances``) in process: which node an instance goes to,
what is undone when a node refuses or its answer is lost.

A real store (SQLite in a temporary dir) and a real ``Fleet``; the nodes are a function that
answers ``instances.create`` / ``instances.delete`` as scripted and records the calls. The
end-to-end proof over real processes and sshd is ``tests/e2e/test_instances.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docklord.coordinator import Fleet
from docklord.coordinator._instance_placement import InstancePlacement
from docklord.errors import Conflict, DocklordError, LinkClosed, NotFound
from docklord.protocol import docklord_pb2 as pb
from docklord.store import Role, Store

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv2 alice@laptop"


@dataclass(frozen=True)
class Alice:
    user_id: int
    username: str = "alice"
    nodes: frozenset[str] | None = None

    def may_see(self, node_id: str) -> bool:
        return self.nodes is None or node_id in self.nodes


class Nodes:
    """Answers each node's ``instances.create`` with a container, or raises what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.refuse: dict[str, DocklordError] = {}

    async def call(self, node_id: str, method: Any, args: Any = None, **_: Any) -> Any:
        sent = None if args is None else args.to_json()
        self.calls.append((node_id, method.name, sent))
        if method.name == "instances.create":
            if node_id in self.refuse:
                raise self.refuse[node_id]
            return method.decode_result(
                {"instance_id": sent["instance_id"], "container_id": "c" * 64, "name": "x",
                 "state": "running", "ports": {"ssh": 4000, "http": 4001, "https": 4002}}
            )  # fmt: skip
        return method.decode_result({"instance_id": sent["instance_id"], "deleted": True})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}") as opened:
        yield opened


def _fleet(*online: str) -> Fleet:
    fleet = Fleet()
    for node_id in online:
        fleet.attach(node_id, object(), pb.Hello())  # type: ignore[arg-type]
        fleet.apply_snapshot(node_id, pb.Snapshot())
    return fleet


async def test_an_instance_goes_to_the_node_with_fewest_and_a_full_node_is_skipped(
    store: Store,
) -> None:
    others = [await store.create_user(n, "pw", Role.VIEWER) for n in ("b", "c")]
    alice = Alice((await store.create_user("alice", "pw", Role.VIEWER)).id)
    for user in others:  # n1 holds two instances already, n2 and n3 none
        await store.reserve_instance(user.id, "n1", KEY)
    nodes = Nodes()
    nodes.refuse["n2"] = Conflict("no free ports")
    placement = InstancePlacement(store, _fleet("n1", "n2", "n3"), nodes.call)

    made = await placement.create(alice, KEY)

    assert made.node_id == "n3" and made.container_id == "c" * 64 and made.port_base == 4000
    assert [(n, m) for n, m, _ in nodes.calls] == [
        ("n2", "instances.create"),
        ("n3", "instances.create"),
    ]
    mine = await store.list_instances(user_id=alice.user_id)
    assert [i.id for i in mine] == [made.id], "the refused reservation on n2 is undone"


async def test_a_lost_answer_removes_what_the_node_may_have_made(store: Store) -> None:
    alice = Alice((await store.create_user("alice", "pw", Role.VIEWER)).id)
    nodes = Nodes()
    nodes.refuse["n1"] = LinkClosed("link to n1 closed")
    placement = InstancePlacement(store, _fleet("n1"), nodes.call)

    with pytest.raises(LinkClosed):
        await placement.create(alice, KEY)

    sent = nodes.calls[0][2]["instance_id"]
    assert nodes.calls[1] == ("n1", "instances.delete", {"instance_id": sent})
    assert await store.list_instances() == []


async def test_a_node_the_owner_may_not_use_or_already_uses_is_refused(store: Store) -> None:
    alice = Alice((await store.create_user("alice", "pw", Role.VIEWER)).id, nodes=frozenset({"n1"}))
    nodes = Nodes()
    placement = InstancePlacement(store, _fleet("n1", "n2"), nodes.call)
    with pytest.raises(NotFound, match="no such node: n2"):
        await placement.create(alice, KEY, node="n2")
    first = await placement.create(alice, KEY)
    assert first.node_id == "n1", "n2 is not alice's to use"
    with pytest.raises(Conflict, match="already have an instance on node n1"):
        await placement.create(alice, KEY, node="n1")
    with pytest.raises(Conflict, match="on every node available to you"):
        await placement.create(alice, KEY)

    await placement.delete(first)
    assert nodes.calls[-1] == ("n1", "instances.delete", {"instance_id": first.id})
    assert await store.list_instances() == []
