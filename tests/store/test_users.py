from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from docklord.errors import Conflict, InvalidInput, NotFound
from docklord.store import UNSET, Role, Store, User, hash_password, needs_rehash

from .conftest import FakeClock, OpenStore, raw_rows


async def test_create_and_get_a_user(store: Store) -> None:
    user = await store.create_user("Alice", "s3cret", Role.OPERATOR, ["node-b", "node-a"])
    assert isinstance(user, User)
    assert user.username == "alice"
    assert user.role is Role.OPERATOR
    assert user.node_grants == ("node-a", "node-b")
    assert not user.disabled
    assert user.created_at == user.updated_at
    assert user.created_at.tzinfo is not None
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_name("ALICE") == user
    assert user.may_access_node("node-a")
    assert not user.may_access_node("node-c")


async def test_role_may_be_given_as_a_string_and_grants_default_to_every_node(
    store: Store,
) -> None:
    user = await store.create_user("bob", "pw", "viewer")
    assert user.role is Role.VIEWER
    assert user.node_grants is None
    assert user.may_access_node("anything")


async def test_an_empty_grant_list_means_no_node(store: Store) -> None:
    user = await store.create_user("carol", "pw", Role.VIEWER, [])
    assert user.node_grants == ()
    assert not user.may_access_node("node-a")
    assert (await store.get_user(user.id)).node_grants == ()


async def test_usernames_are_unique_regardless_of_case(store: Store) -> None:
    await store.create_user("alice", "pw", Role.ADMIN)
    with pytest.raises(Conflict, match="already exists"):
        await store.create_user("ALICE", "other", Role.VIEWER)
    assert await store.count_users() == 1


@pytest.mark.parametrize(
    ("username", "password", "role", "grants"),
    [
        ("", "pw", "admin", None),
        ("has space", "pw", "admin", None),
        ("x" * 65, "pw", "admin", None),
        ("-dash", "pw", "admin", None),
        ("ok", "", "admin", None),
        ("ok", "x" * 2000, "admin", None),
        ("ok", "pw", "superuser", None),
        ("ok", "pw", "admin", "node-a"),
        ("ok", "pw", "admin", ["bad id!"]),
    ],
)
async def test_malformed_users_are_refused(
    store: Store, username: str, password: str, role: str, grants: object
) -> None:
    with pytest.raises(InvalidInput):
        await store.create_user(username, password, role, grants)  # type: ignore[arg-type]
    assert await store.count_users() == 0


async def test_unknown_users_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_user(404)
    with pytest.raises(NotFound):
        await store.get_user_by_name("nobody")
    with pytest.raises(NotFound):
        await store.update_user(404, role=Role.VIEWER)
    with pytest.raises(NotFound):
        await store.delete_user(404)


async def test_list_and_count_users(store: Store) -> None:
    assert await store.list_users() == []
    assert await store.count_users() == 0
    names = ["zed", "amy", "kim"]
    for name in names:
        await store.create_user(name, "pw", Role.VIEWER)
    assert [u.username for u in await store.list_users()] == names  # oldest first
    assert await store.count_users() == 3


async def test_update_changes_only_what_is_given(store: Store, clock: FakeClock) -> None:
    await store.create_user("root", "pw", Role.ADMIN)
    user = await store.create_user("dave", "old-pw", Role.VIEWER, ["n1"])
    clock.advance(timedelta(seconds=5))
    updated = await store.update_user(user.id, role=Role.OPERATOR)
    assert updated.role is Role.OPERATOR
    assert updated.node_grants == ("n1",)
    assert updated.updated_at == user.updated_at + timedelta(seconds=5)
    assert (await store.update_user(user.id, node_grants=None)).node_grants is None
    assert (await store.update_user(user.id, node_grants=["n2"])).node_grants == ("n2",)
    assert (await store.update_user(user.id, node_grants=UNSET)).node_grants == ("n2",)
    await store.update_user(user.id, password="new-pw")
    assert await store.authenticate("dave", "old-pw") is None
    assert await store.authenticate("dave", "new-pw") is not None


async def test_update_refuses_malformed_values(store: Store) -> None:
    user = await store.create_user("erin", "pw", Role.VIEWER)
    with pytest.raises(InvalidInput):
        await store.update_user(user.id, role="root")
    with pytest.raises(InvalidInput):
        await store.update_user(user.id, password="")
    with pytest.raises(InvalidInput):
        await store.update_user(user.id, node_grants=["no spaces"])


async def test_authenticate(store: Store) -> None:
    user = await store.create_user("frank", "pw", Role.VIEWER)
    assert await store.authenticate("frank", "pw") == user
    assert await store.authenticate(" Frank ", "pw") == user
    assert await store.authenticate("frank", "PW") is None
    assert await store.authenticate("frank", "") is None
    assert await store.authenticate("nobody", "pw") is None
    assert await store.authenticate("", "") is None


async def test_a_disabled_user_cannot_sign_in_until_enabled(store: Store) -> None:
    await store.create_user("root", "pw", Role.ADMIN)
    user = await store.create_user("gina", "pw", Role.OPERATOR)
    assert (await store.update_user(user.id, disabled=True)).disabled
    assert await store.authenticate("gina", "pw") is None
    await store.update_user(user.id, disabled=False)
    assert await store.authenticate("gina", "pw") is not None


async def test_the_last_enabled_admin_cannot_be_removed(store: Store) -> None:
    admin = await store.create_user("root", "pw", Role.ADMIN)
    await store.create_user("viewer", "pw", Role.VIEWER)
    with pytest.raises(Conflict, match="no enabled admin"):
        await store.update_user(admin.id, role=Role.OPERATOR)
    with pytest.raises(Conflict):
        await store.update_user(admin.id, disabled=True)
    with pytest.raises(Conflict):
        await store.delete_user(admin.id)
    assert (await store.get_user(admin.id)).role is Role.ADMIN
    # With a second admin, the first may go.
    await store.create_user("root2", "pw", Role.ADMIN)
    await store.update_user(admin.id, role=Role.VIEWER)
    await store.delete_user(admin.id)


async def test_concurrent_demotions_leave_one_admin(store: Store) -> None:
    first = await store.create_user("adm1", "pw", Role.ADMIN)
    second = await store.create_user("adm2", "pw", Role.ADMIN)
    results = await asyncio.gather(
        store.update_user(first.id, role=Role.VIEWER),
        store.update_user(second.id, disabled=True),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    assert sum(isinstance(r, User) for r in results) == 1, results
    admins = [u for u in await store.list_users() if u.role is Role.ADMIN and not u.disabled]
    assert len(admins) == 1


async def test_deleting_a_user_deletes_its_tokens_and_sessions(
    store: Store, database_url: str
) -> None:
    await store.create_user("root", "pw", Role.ADMIN)
    user = await store.create_user("hank", "pw", Role.OPERATOR)
    _, token = await store.create_token(user.id, "ci")
    _, cookie = await store.create_session(user.id, timedelta(hours=1))
    enrollment, _ = await store.create_enrollment(ttl=timedelta(hours=1), created_by=user.id)
    await store.delete_user(user.id)
    with pytest.raises(NotFound):
        await store.get_user(user.id)
    assert await store.resolve_token(token) is None
    assert await store.resolve_session(cookie) is None
    # Foreign keys are enforced (on SQLite too): the rows went with the user.
    assert await raw_rows(database_url, "api_tokens") == []
    assert await raw_rows(database_url, "sessions") == []
    [kept] = await store.list_enrollments()
    assert kept.id == enrollment.id and kept.created_by is None


async def test_sign_in_rehashes_a_password_hashed_with_old_parameters(
    open_store: OpenStore, database_url: str
) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    new = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    before = await open_store(password_hasher=old)
    user = await before.create_user("ivy", "pw", Role.VIEWER)
    [row] = await raw_rows(database_url, "users")
    assert not needs_rehash(row["password_hash"], hasher=old)

    after = await open_store(password_hasher=new)
    assert await after.authenticate("ivy", "wrong") is None
    [unchanged] = await raw_rows(database_url, "users")
    assert unchanged["password_hash"] == row["password_hash"]  # no rehash without the password

    assert await after.authenticate("ivy", "pw") == user
    [rehashed] = await raw_rows(database_url, "users")
    assert rehashed["password_hash"] != row["password_hash"]
    assert not needs_rehash(rehashed["password_hash"], hasher=new)
    assert await after.authenticate("ivy", "pw") == user
    assert await before.authenticate("ivy", "pw") == user  # the new hash still verifies


async def test_argon2_runs_off_the_event_loop(sqlite_url: str) -> None:
    # The library's default parameters: a hash takes a good fraction of a second here.
    started = time.perf_counter()
    hash_password("pw")
    one_hash = time.perf_counter() - started
    async with Store(sqlite_url) as store:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                if stop.is_set():
                    return
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the first tick comes before the work
        await store.create_user("jack", "pw", Role.VIEWER)
        assert await store.authenticate("jack", "pw") is not None
        stop.set()
        await task
    # Had a hash run on the loop, the loop would have stood still for the whole hash.
    longest_pause = max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    assert longest_pause < one_hash / 2, (longest_pause, one_hash)
