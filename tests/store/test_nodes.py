from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.store import (
    EnrollmentToken,
    NodeAuth,
    NodeRecord,
    Role,
    Store,
    hash_password,
    needs_rehash,
)

from .conftest import FAST_HASHER, FakeClock, OpenStore, raw_rows, set_secret_hash


async def test_register_and_get_a_node(store: Store, clock: FakeClock) -> None:
    node = await store.register_node("node-1", "s3cret", name="Web 1", labels={"env": "prod"})
    assert isinstance(node, NodeRecord)
    assert node.node_id == "node-1" and node.name == "Web 1"
    assert node.labels == {"env": "prod"}
    assert node.registered_at == clock.now
    assert node.last_seen_at is None and not node.revoked
    assert await store.get_node("node-1") == node
    node.labels["env"] = "changed"  # a copy: the store is not affected
    assert (await store.get_node("node-1")).labels == {"env": "prod"}


async def test_a_node_id_registers_once(store: Store) -> None:
    await store.register_node("node-1", "a")
    with pytest.raises(Conflict, match="already registered"):
        await store.register_node("node-1", "b")
    assert (await store.verify_node("node-1", "a")).ok


@pytest.mark.parametrize(
    ("node_id", "secret", "labels"),
    [
        ("", "s", None),
        ("bad id", "s", None),
        ("x" * 129, "s", None),
        ("ok", "", None),
        ("ok", "s", {"k": 1}),
    ],
)
async def test_malformed_nodes_are_refused(
    store: Store, node_id: str, secret: str, labels: object
) -> None:
    with pytest.raises(InvalidInput):
        await store.register_node(node_id, secret, labels=labels)  # type: ignore[arg-type]
    assert await store.list_nodes() == []


async def test_verify_node_tells_the_four_cases_apart(store: Store) -> None:
    await store.register_node("node-1", "right")
    ok = await store.verify_node("node-1", "right")
    assert ok.status is NodeAuth.OK and ok.ok
    assert ok.node is not None and ok.node.node_id == "node-1"
    bad = await store.verify_node("node-1", "wrong")
    assert bad.status is NodeAuth.BAD_SECRET and not bad.ok and bad.node is not None
    unknown = await store.verify_node("node-2", "right")
    assert unknown.status is NodeAuth.UNKNOWN and unknown.node is None
    assert (await store.verify_node("node-1", "")).status is NodeAuth.BAD_SECRET

    await store.revoke_node("node-1")
    revoked = await store.verify_node("node-1", "right")
    assert revoked.status is NodeAuth.REVOKED and not revoked.ok
    assert revoked.node is not None and revoked.node.revoked
    # Without the secret, nobody learns that the node is revoked.
    assert (await store.verify_node("node-1", "wrong")).status is NodeAuth.BAD_SECRET


async def test_verify_rehashes_a_secret_hashed_with_old_parameters(
    open_store: OpenStore, database_url: str
) -> None:
    old = await open_store(password_hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    new_hasher = PasswordHasher(time_cost=2, memory_cost=1024)
    new = await open_store(password_hasher=new_hasher)
    await old.register_node("node-1", "s")
    [before] = await raw_rows(database_url, "nodes")
    assert (await new.verify_node("node-1", "nope")).status is NodeAuth.BAD_SECRET
    assert (await new.verify_node("node-1", "s")).ok
    [after] = await raw_rows(database_url, "nodes")
    assert after["secret_hash"] != before["secret_hash"]
    assert not needs_rehash(after["secret_hash"], hasher=new_hasher)
    assert (await old.verify_node("node-1", "s")).ok


async def test_touch_node_records_what_the_node_reports(store: Store, clock: FakeClock) -> None:
    await store.register_node("node-1", "s")
    await store.touch_node("node-1", agent_version="1.2", hostname="web1", engine_version="20.10")
    node = await store.get_node("node-1")
    assert node.last_seen_at == clock.now
    assert (node.agent_version, node.hostname, node.engine_version) == ("1.2", "web1", "20.10")
    seen = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.touch_node("node-1", last_seen_at=seen, agent_version="1.3")
    node = await store.get_node("node-1")
    assert node.last_seen_at == seen
    assert (node.agent_version, node.hostname, node.engine_version) == ("1.3", "web1", "20.10")
    with pytest.raises(NotFound):
        await store.touch_node("node-2")
    with pytest.raises(InvalidInput):
        await store.touch_node("node-1", last_seen_at=datetime(2030, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidInput):
        await store.touch_node("node-1", hostname="h" * 256)


async def test_rename_and_relabel_a_node(store: Store) -> None:
    await store.register_node("node-1", "s", name="Web 1", labels={"env": "prod"})
    relabelled = await store.update_node("node-1", labels={"tier": "db"})
    assert relabelled.name == "Web 1" and relabelled.labels == {"tier": "db"}
    renamed = await store.update_node("node-1", name="Db 1")
    assert renamed.name == "Db 1" and renamed.labels == {"tier": "db"}
    assert (await store.update_node("node-1", name="")).name is None
    assert await store.get_node("node-1") == await store.update_node("node-1")
    with pytest.raises(InvalidInput):
        await store.update_node("node-1", name="n" * 256)
    with pytest.raises(InvalidInput):
        await store.update_node("node-1", labels={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(NotFound):
        await store.update_node("no-such-node", name="x")
    await store.revoke_node("node-1")
    with pytest.raises(NotFound):
        await store.update_node("node-1", name="x")


async def test_list_revoke_and_delete_nodes(store: Store, clock: FakeClock) -> None:
    for node_id in ("b-node", "a-node"):
        await store.register_node(node_id, "s")
    assert [n.node_id for n in await store.list_nodes()] == ["a-node", "b-node"]
    revoked = await store.revoke_node("a-node")
    assert revoked.revoked_at == clock.now
    clock.advance(timedelta(minutes=1))
    assert (await store.revoke_node("a-node")).revoked_at == revoked.revoked_at
    await store.delete_node("a-node")
    with pytest.raises(NotFound):
        await store.get_node("a-node")
    with pytest.raises(NotFound):
        await store.delete_node("a-node")
    with pytest.raises(NotFound):
        await store.revoke_node("a-node")
    # A deleted node may register again, with a new secret.
    await store.register_node("a-node", "new")
    assert (await store.verify_node("a-node", "new")).ok
    assert (await store.verify_node("a-node", "s")).status is NodeAuth.BAD_SECRET


async def test_an_enrollment_token_works_once(store: Store, clock: FakeClock) -> None:
    admin = await store.create_user("root", "pw", Role.ADMIN)
    token, plaintext = await store.create_enrollment(
        ttl=timedelta(minutes=10), node_id="node-9", created_by=admin.id
    )
    assert isinstance(token, EnrollmentToken)
    assert token.node_id == "node-9" and token.created_by == admin.id
    assert token.expires_at == clock.now + timedelta(minutes=10) and token.used_at is None
    used = await store.consume_enrollment(plaintext)
    assert used is not None and used.id == token.id and used.used_at == clock.now
    assert used.node_id == "node-9"
    assert await store.consume_enrollment(plaintext) is None
    assert await store.consume_enrollment("unknown") is None
    assert await store.consume_enrollment("") is None


async def test_an_expired_enrollment_token_is_refused(store: Store, clock: FakeClock) -> None:
    _, plaintext = await store.create_enrollment(ttl=timedelta(minutes=10))
    clock.advance(timedelta(minutes=10))
    assert await store.consume_enrollment(plaintext) is None
    assert await store.list_enrollments(pending_only=True) == []
    assert len(await store.list_enrollments()) == 1


async def test_ten_concurrent_consumers_one_winner(open_store: OpenStore) -> None:
    # Two stores: their connections race through separate pools, as two replicas would.
    first, second = await open_store(), await open_store()
    _, plaintext = await first.create_enrollment(ttl=timedelta(minutes=10))
    results = await asyncio.gather(
        *(store.consume_enrollment(plaintext) for store in [first, second] * 5)
    )
    assert sum(result is not None for result in results) == 1, results


async def test_malformed_enrollments_are_refused(store: Store) -> None:
    await store.register_node("taken", "s")
    with pytest.raises(InvalidInput):
        await store.create_enrollment(ttl=timedelta(seconds=-1))
    with pytest.raises(InvalidInput):
        await store.create_enrollment(ttl=timedelta(minutes=1), node_id="bad id")
    with pytest.raises(Conflict, match="already registered"):
        await store.create_enrollment(ttl=timedelta(minutes=1), node_id="taken")
    with pytest.raises(NotFound):
        await store.create_enrollment(ttl=timedelta(minutes=1), created_by=404)
    assert await store.list_enrollments() == []


async def test_list_and_delete_enrollments(store: Store) -> None:
    first, _ = await store.create_enrollment(ttl=timedelta(minutes=1))
    second, plaintext = await store.create_enrollment(ttl=timedelta(minutes=1))
    assert [e.id for e in await store.list_enrollments(pending_only=True)] == [first.id, second.id]
    await store.delete_enrollment(second.id)
    assert await store.consume_enrollment(plaintext) is None
    with pytest.raises(NotFound):
        await store.delete_enrollment(second.id)
    assert [e.id for e in await store.list_enrollments()] == [first.id]


async def test_a_machine_made_node_secret_gets_the_fast_keyed_hash(
    store: Store, database_url: str
) -> None:
    secret = secrets.token_urlsafe(32)
    await store.register_node("node-1", secret)
    await store.register_node("node-2", secret)
    rows = await raw_rows(database_url, "nodes")
    hashes = [row["secret_hash"] for row in rows]
    assert all(h.startswith("hmac-sha256$") and secret not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted: equal secrets do not show
    assert (await store.verify_node("node-1", secret)).ok
    assert (await store.verify_node("node-1", secret[:-1] + "x")).status is NodeAuth.BAD_SECRET
    assert (await store.verify_node("node-1", "short")).status is NodeAuth.BAD_SECRET


async def test_an_argon2_hash_of_a_machine_made_secret_migrates_on_the_next_success(
    store: Store, database_url: str
) -> None:
    secret = secrets.token_urlsafe(32)
    await store.register_node("node-1", secret)
    await set_secret_hash(database_url, "node-1", hash_password(secret, hasher=FAST_HASHER))
    assert (await store.verify_node("node-1", "wrong-" + secret)).status is NodeAuth.BAD_SECRET
    [unchanged] = await raw_rows(database_url, "nodes")
    assert unchanged["secret_hash"].startswith("$argon2id$")
    assert (await store.verify_node("node-1", secret)).ok
    [migrated] = await raw_rows(database_url, "nodes")
    assert migrated["secret_hash"].startswith("hmac-sha256$")
    assert (await store.verify_node("node-1", secret)).ok


async def test_a_short_node_secret_stays_on_argon2(store: Store, database_url: str) -> None:
    await store.register_node("node-1", "typed-by-a-person")
    assert (await store.verify_node("node-1", "typed-by-a-person")).ok
    [row] = await raw_rows(database_url, "nodes")
    assert row["secret_hash"].startswith("$argon2id$")


async def test_count_unseen_nodes(store: Store) -> None:
    await store.register_node("node-1", "s")
    await store.register_node("node-2", "s")
    await store.register_node("node-3", "s")
    await store.touch_node("node-2")
    await store.revoke_node("node-3")
    assert await store.count_unseen_nodes() == 1
