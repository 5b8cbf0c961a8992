from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from docklord.errors import InvalidInput
from docklord.store import AuditEntry, Store

from .conftest import FakeClock


async def test_record_and_list(store: Store, clock: FakeClock) -> None:
    entry = await store.record(
        "user:alice",
        "container.stop",
        target_node="node-1",
        target="web",
        params={"timeout": 10},
        source_addr="10.0.0.7",
    )
    assert isinstance(entry, AuditEntry)
    assert entry.time == clock.now and entry.result == "ok"
    failed = await store.record("token:3", "image.pull", result="error: not_found")
    assert failed.id > entry.id
    assert failed.params is None and failed.target_node is None
    assert await store.list_audit() == [failed, entry]


async def test_params_keep_their_json_shape_and_lose_secrets(store: Store) -> None:
    params = {
        "cmd": ["sh", "-c", "id"],
        "env": {"PASSWORD": "hunter2", "HOME": "/root"},
        "password": "hunter2",
        "nested": [{"token": "abc", "n": 1.5, "ok": True, "none": None}],
    }
    entry = await store.record("user:alice", "exec", params=params)
    expected = {
        "cmd": ["sh", "-c", "id"],
        "env": {"PASSWORD": "***", "HOME": "/root"},
        "password": "***",
        "nested": [{"token": "***", "n": 1.5, "ok": True, "none": None}],
    }
    assert entry.params == expected
    [listed] = await store.list_audit()
    assert listed.params == expected


async def test_malformed_entries_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="JSON"):
        await store.record("user:a", "x", params={"when": datetime.now()})  # noqa: DTZ005
    with pytest.raises(InvalidInput):
        await store.record("", "x")
    with pytest.raises(InvalidInput):
        await store.record("user:a", "")
    with pytest.raises(InvalidInput):
        await store.record("user:a", "x", source_addr="a" * 65)
    assert await store.list_audit() == []


async def test_filters(store: Store, clock: FakeClock) -> None:
    start = clock.now
    for i in range(6):
        actor = "user:alice" if i % 2 else "node:n1"
        await store.record(actor, f"act{i % 3}", target_node=f"n{i % 2}")
        clock.advance(timedelta(minutes=1))

    async def ids(**filters: object) -> list[int]:
        return [e.id for e in await store.list_audit(**filters)]  # type: ignore[arg-type]

    assert await ids(actor="user:alice") == [6, 4, 2]
    assert await ids(action="act0") == [4, 1]
    assert await ids(target_node="n0") == [5, 3, 1]
    assert await ids(actor="node:n1", action="act2") == [3]
    assert await ids(since=start + timedelta(minutes=4)) == [6, 5]
    assert await ids(until=start + timedelta(minutes=2)) == [2, 1]
    assert await ids(since=start + timedelta(minutes=1), until=start + timedelta(minutes=3)) == [
        3,
        2,
    ]
    assert await ids(actor="nobody") == []
    assert await ids(limit=2) == [6, 5]


async def test_keyset_pagination_walks_every_entry_once(store: Store) -> None:
    for i in range(25):
        await store.record("user:alice", "act", target=str(i))
    seen: list[int] = []
    before: int | None = None
    while True:
        page = await store.list_audit(limit=10, before_id=before)
        if not page:
            break
        assert len(page) <= 10
        seen += [e.id for e in page]
        before = page[-1].id
        # New entries do not shift the pages still to come.
        await store.record("user:bob", "meanwhile")
    assert len(seen) == 25
    assert seen == sorted(seen, reverse=True)
    assert await store.list_audit(actor="user:alice", before_id=seen[-1]) == []


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
async def test_limit_is_bounded(store: Store, limit: int) -> None:
    with pytest.raises(InvalidInput):
        await store.list_audit(limit=limit)


async def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.list_audit(since=datetime(2020, 1, 1))  # noqa: DTZ001


async def test_prune_audit(store: Store, clock: FakeClock) -> None:
    await store.record("user:a", "old")
    clock.advance(timedelta(days=31))
    kept = await store.record("user:a", "new")
    assert await store.prune_audit(clock.now - timedelta(days=30)) == 1
    assert await store.list_audit() == [kept]
