from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from docklord.errors import InvalidInput, NotFound
from docklord.store import TOUCH_INTERVAL, ApiToken, Role, Store, User, token_digest

from .conftest import FakeClock, raw_rows


@pytest.fixture
async def user(store: Store) -> User:
    await store.create_user("root", "pw", Role.ADMIN)
    return await store.create_user("alice", "pw", Role.OPERATOR)


async def test_create_and_resolve_a_token(store: Store, user: User, clock: FakeClock) -> None:
    token, plaintext = await store.create_token(user.id, "ci", role_scope=Role.VIEWER)
    assert isinstance(token, ApiToken)
    assert token.prefix == plaintext[:8] and len(plaintext) >= 43
    assert token.role_scope is Role.VIEWER
    assert token.last_used_at is None and token.revoked_at is None and token.expires_at is None
    assert token.created_at == clock.now
    resolved = await store.resolve_token(plaintext)
    assert resolved is not None
    found, owner = resolved
    assert owner == user
    assert found.id == token.id and found.last_used_at == clock.now
    assert owner.role.capped(found.role_scope) is Role.VIEWER
    assert await store.get_token(token.id) == found


async def test_each_token_is_different(store: Store, user: User) -> None:
    plaintexts = {(await store.create_token(user.id, "t"))[1] for _ in range(5)}
    assert len(plaintexts) == 5


@pytest.mark.parametrize("garbage", ["", "x", "not-a-token", "x" * 10_000])
async def test_unknown_tokens_resolve_to_none(store: Store, user: User, garbage: str) -> None:
    await store.create_token(user.id, "ci")
    assert await store.resolve_token(garbage) is None


async def test_a_revoked_token_stops_working(store: Store, user: User, clock: FakeClock) -> None:
    token, plaintext = await store.create_token(user.id, "ci")
    revoked = await store.revoke_token(token.id)
    assert revoked.revoked_at == clock.now
    assert await store.resolve_token(plaintext) is None
    clock.advance(timedelta(minutes=1))
    assert (await store.revoke_token(token.id)).revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await store.revoke_token(token.id + 100)


async def test_an_expired_token_stops_working(store: Store, user: User, clock: FakeClock) -> None:
    token, plaintext = await store.create_token(
        user.id, "ci", expires_at=clock.now + timedelta(hours=1)
    )
    assert await store.resolve_token(plaintext) is not None
    clock.advance(timedelta(minutes=59, seconds=59))
    assert await store.resolve_token(plaintext) is not None
    clock.advance(timedelta(seconds=1))
    assert await store.resolve_token(plaintext) is None
    assert not (await store.get_token(token.id)).is_active(clock.now)


async def test_a_disabled_users_tokens_stop_working(store: Store, user: User) -> None:
    _, plaintext = await store.create_token(user.id, "ci")
    await store.update_user(user.id, disabled=True)
    assert await store.resolve_token(plaintext) is None
    await store.update_user(user.id, disabled=False)
    assert await store.resolve_token(plaintext) is not None


async def test_malformed_tokens_are_refused(store: Store, user: User, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput):
        await store.create_token(user.id, "")
    with pytest.raises(InvalidInput):
        await store.create_token(user.id, "x" * 101)
    with pytest.raises(InvalidInput):
        await store.create_token(user.id, "ci", role_scope="root")
    with pytest.raises(InvalidInput, match="future"):
        await store.create_token(user.id, "ci", expires_at=clock.now - timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="time zone"):
        await store.create_token(user.id, "ci", expires_at=datetime(2999, 1, 1))  # noqa: DTZ001
    with pytest.raises(NotFound):
        await store.create_token(user.id + 100, "ci")
    assert await store.list_tokens() == []


async def test_last_used_is_written_at_most_once_per_interval(
    store: Store, user: User, clock: FakeClock
) -> None:
    token, plaintext = await store.create_token(user.id, "ci")
    first = clock.now
    await store.resolve_token(plaintext)
    clock.advance(TOUCH_INTERVAL - timedelta(seconds=1))
    resolved = await store.resolve_token(plaintext)
    assert resolved is not None and resolved[0].last_used_at == first
    assert (await store.get_token(token.id)).last_used_at == first
    clock.advance(timedelta(seconds=1))
    resolved = await store.resolve_token(plaintext)
    assert resolved is not None and resolved[0].last_used_at == clock.now
    assert (await store.get_token(token.id)).last_used_at == clock.now


async def test_list_tokens(store: Store, user: User) -> None:
    other = await store.create_user("bob", "pw", Role.VIEWER)
    mine, _ = await store.create_token(user.id, "mine")
    theirs, _ = await store.create_token(other.id, "theirs")
    await store.revoke_token(theirs.id)
    assert [t.id for t in await store.list_tokens(user.id)] == [mine.id]
    assert [t.name for t in await store.list_tokens()] == ["mine", "theirs"]
    assert await store.list_tokens(other.id + 100) == []
    with pytest.raises(NotFound):
        await store.get_token(999)


def test_role_capping() -> None:
    assert Role.ADMIN.capped(None) is Role.ADMIN
    assert Role.ADMIN.capped(Role.VIEWER) is Role.VIEWER
    assert Role.VIEWER.capped(Role.ADMIN) is Role.VIEWER
    assert Role.OPERATOR.capped(Role.OPERATOR) is Role.OPERATOR
    assert Role.VIEWER.rank < Role.OPERATOR.rank < Role.ADMIN.rank


async def test_create_and_resolve_a_session(store: Store, user: User, clock: FakeClock) -> None:
    session, cookie = await store.create_session(user.id, timedelta(hours=8), "10.0.0.1 curl")
    assert session.expires_at == clock.now + timedelta(hours=8)
    assert session.last_seen_at == session.created_at == clock.now
    assert session.source == "10.0.0.1 curl"
    resolved = await store.resolve_session(cookie)
    assert resolved == (session, user)
    assert await store.resolve_session("nope") is None
    assert await store.resolve_session("") is None
    # A session cookie is not an API token, and the other way round.
    assert await store.resolve_token(cookie) is None
    _, token = await store.create_token(user.id, "ci")
    assert await store.resolve_session(token) is None


async def test_a_session_expires(store: Store, user: User, clock: FakeClock) -> None:
    _, cookie = await store.create_session(user.id, timedelta(minutes=30))
    clock.advance(timedelta(minutes=29))
    resolved = await store.resolve_session(cookie)
    assert resolved is not None and resolved[0].last_seen_at == clock.now
    clock.advance(timedelta(minutes=1))
    assert await store.resolve_session(cookie) is None


async def test_session_last_seen_is_written_at_most_once_per_interval(
    store: Store, user: User, clock: FakeClock
) -> None:
    session, cookie = await store.create_session(user.id, timedelta(hours=1))
    clock.advance(timedelta(seconds=30))
    resolved = await store.resolve_session(cookie)
    assert resolved is not None and resolved[0].last_seen_at == session.created_at
    clock.advance(timedelta(seconds=30))
    resolved = await store.resolve_session(cookie)
    assert resolved is not None and resolved[0].last_seen_at == clock.now
    [listed] = await store.list_sessions(user.id)
    assert listed.last_seen_at == clock.now


async def test_a_disabled_users_sessions_stop_working(store: Store, user: User) -> None:
    _, cookie = await store.create_session(user.id, timedelta(hours=1))
    await store.update_user(user.id, disabled=True)
    assert await store.resolve_session(cookie) is None


async def test_delete_sessions(store: Store, user: User, clock: FakeClock) -> None:
    first, cookie = await store.create_session(user.id, timedelta(hours=1))
    await store.create_session(user.id, timedelta(hours=1), "second")
    await store.create_session(user.id, timedelta(minutes=1), "short")
    assert await store.delete_session(first.id) is True
    assert await store.delete_session(first.id) is False
    assert await store.resolve_session(cookie) is None
    clock.advance(timedelta(minutes=2))
    assert [s.source for s in await store.list_sessions(user.id)] == ["second"]
    assert await store.delete_user_sessions(user.id) == 2
    assert await store.list_sessions(user.id) == []


async def test_malformed_sessions_are_refused(store: Store, user: User) -> None:
    with pytest.raises(InvalidInput):
        await store.create_session(user.id, timedelta(0))
    with pytest.raises(NotFound):
        await store.create_session(user.id + 100, timedelta(hours=1))
    session, _ = await store.create_session(user.id, timedelta(hours=1), "x" * 1000)
    assert session.source == "x" * 255


async def test_purge_expired(store: Store, user: User, clock: FakeClock) -> None:
    _, keep = await store.create_session(user.id, timedelta(hours=2))
    await store.create_session(user.id, timedelta(hours=1))
    _, used = await store.create_enrollment(ttl=timedelta(hours=2))
    await store.consume_enrollment(used)
    await store.create_enrollment(ttl=timedelta(hours=1))
    pending, _ = await store.create_enrollment(ttl=timedelta(hours=2))
    clock.advance(timedelta(hours=1))
    assert await store.purge_expired() == 3
    assert await store.resolve_session(keep) is not None
    assert [e.id for e in await store.list_enrollments()] == [pending.id]
    assert await store.purge_expired() == 0


async def test_token_digests_are_what_is_stored(
    store: Store, user: User, database_url: str
) -> None:
    _, plaintext = await store.create_token(user.id, "ci")
    [row] = await raw_rows(database_url, "api_tokens")
    assert row["token_hash"] == token_digest(plaintext)
