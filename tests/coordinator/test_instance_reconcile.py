"""The reconciler of instance records left at ``creating``: each answer of a node, in process.

A real store (SQLite in a temporary dir) and a real ``Fleet``; the node is a function that
answers ``instances.list`` and records the calls. The end-to-end proof over real processes is
``tests/e2e/test_instances_reconcile.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from docklord.coordinator import Fleet
from docklord.coordinator._instance_reconcile import InstanceReconciler
from docklord.errors import NodeOffline
from docklord.protocol import docklord_pb2 as pb
from docklord.store import Role, Store
from docklord.testing import eventually

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv2 alice@laptop"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}") as opened:
        yield opened


class FakeNode:
    def __init__(self, instances: list[dict[str, Any]]) -> None:
        self.instances = instances
        self.calls: list[tuple[str, Any]] = []
        self.offline = False

    async def call(self, node_id: str, method: Any, args: Any = None, **_: Any) -> Any:
        # What the link carries: the method's name and its arguments as JSON.
        self.calls.append((method.name, None if args is None else args.to_json()))
        if self.offline:
            raise NodeOffline(f"node {node_id} is offline")
        if method.name == "instances.list":
            listed = {"instances": self.instances, "max_instances": 20, "port_base": 1024}
            return method.decode_result(listed)
        return method.decode_result({"deleted": True})


def _online(fleet: Fleet, node_id: str) -> None:
    # What a link does: attach, then the first snapshot makes the node online.
    fleet.attach(node_id, object(), pb.Hello())  # type: ignore[arg-type]
    fleet.apply_snapshot(node_id, pb.Snapshot())


async def test_each_leftover_is_settled_by_what_the_node_reports(store: Store) -> None:
    users = [await store.create_user(n, "pw", Role.VIEWER) for n in ("a", "b", "c", "d")]
    for node_id in ("n1", "n2"):
        await store.register_node(node_id, "secret-" + node_id)
    await store.revoke_node("n2")
    running = await store.reserve_instance(users[0].id, "n1", KEY)
    never_started = await store.reserve_instance(users[1].id, "n1", KEY)
    missing = await store.reserve_instance(users[2].id, "n1", KEY)
    on_revoked = await store.reserve_instance(users[3].id, "n2", KEY)
    node = FakeNode(
        [
            {"instance_id": running.id, "container_id": "c1" * 32, "state": "running",
             "ports": {"ssh": 3000, "http": 3001, "https": 3002}},
            {"instance_id": never_started.id, "container_id": "c2" * 32, "state": "created",
             "ports": {"ssh": 3003, "http": 3004, "https": 3005}},
        ]
    )  # fmt: skip
    fleet = Fleet()
    reconciler = InstanceReconciler(store, fleet, node.call)
    await reconciler.start()
    assert reconciler.pending == {"n1": {running.id, never_started.id, missing.id}}
    assert on_revoked.id not in {i.id for i in await store.list_instances()}

    node.offline = True
    _online(fleet, "n1")
    await eventually(lambda: _called(node, 1), what="a first attempt")
    assert reconciler.pending["n1"], "an offline node leaves the work for its next link"

    node.offline = False
    fleet.detach("n1", fleet.nodes["n1"].session)  # type: ignore[arg-type]
    _online(fleet, "n1")
    await eventually(lambda: _settled(reconciler), what="every leftover settled")
    left = {i.id: i for i in await store.list_instances()}
    assert set(left) == {running.id}
    assert left[running.id].container_id == "c1" * 32 and left[running.id].port_base == 3000
    assert ("instances.delete", {"instance_id": never_started.id}) in node.calls
    assert ("instances.delete", {"instance_id": missing.id}) not in node.calls
    await reconciler.aclose()


async def _called(node: FakeNode, times: int) -> bool:
    return len(node.calls) >= times


async def _settled(reconciler: InstanceReconciler) -> bool:
    return not reconciler.pending
