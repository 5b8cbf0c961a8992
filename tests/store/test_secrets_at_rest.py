from __future__ import annotations

from datetime import timedelta

from docklord.store import Role, Store, token_digest

from .conftest import TABLES, raw_rows


async def test_no_secret_is_stored_in_plain_text(store: Store, database_url: str) -> None:
    password = "correct-horse-battery-staple"
    node_secret = "node-secret-0123456789"
    user = await store.create_user("alice", password, Role.ADMIN)
    await store.update_user(user.id, password=password + "-2")
    _, api_token = await store.create_token(user.id, "ci")
    _, cookie = await store.create_session(user.id, timedelta(hours=1))
    await store.register_node("node-1", node_secret)
    await store.reserve_instance(user.id, "node-1", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA test")
    _, enrollment = await store.create_enrollment(ttl=timedelta(hours=1))
    await store.record("user:alice", "user.create", params={"password": password})
    secrets = [password, password + "-2", node_secret, api_token, cookie, enrollment]

    dump = ""
    for table in TABLES:
        rows = await raw_rows(database_url, table)
        assert rows, f"{table} is empty: the check would prove nothing"
        dump += repr(rows)
    for secret in secrets:
        assert secret not in dump
    # What is stored instead: argon2 hashes and token digests.
    [user_row] = await raw_rows(database_url, "users")
    [node_row] = await raw_rows(database_url, "nodes")
    assert user_row["password_hash"].startswith("$argon2id$")
    assert node_row["secret_hash"].startswith("$argon2id$")
    assert token_digest(api_token) in dump
    assert token_digest(cookie) in dump
    assert token_digest(enrollment) in dump
