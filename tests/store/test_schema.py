"""Migrations, engine set-up and the life cycle of ``Store``."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from docklord.errors import ConfigError, DocklordError
from docklord.store import Role, Store
from docklord.store._db import create_engine, normalize_url
from docklord.store._migrate import VERSION_TABLE, alembic_config, upgrade
from docklord.store._models import Base

from .conftest import FAST_HASHER, TABLES


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _downgrade_to_base(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _sync(url: str, fn: object, *args: object) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn, *args)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def _version(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def test_opening_again_keeps_the_data_and_the_schema(database_url: str) -> None:
    async with Store(database_url, password_hasher=FAST_HASHER) as store:
        user = await store.create_user("alice", "pw", Role.ADMIN)
    async with Store(database_url, password_hasher=FAST_HASHER) as store:
        assert await store.get_user(user.id) == user
    assert await _version(database_url) == ["0004"]


async def test_concurrent_first_opens_migrate_once(database_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(database_url) for _ in range(4)))
    try:
        assert [await store.count_users() for store in stores] == [0] * 4
    finally:
        for store in stores:
            await store.aclose()
    assert await _version(database_url) == ["0004"]


async def test_new_sqlite_files_opened_at_once_all_open_in_wal_mode(tmp_path: Path) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite refuses concurrent
    # switches at once instead of waiting: this failed about one round in three.
    for round_ in range(12):
        url = f"sqlite+aiosqlite:///{tmp_path / f'round{round_}.db'}"
        stores = await asyncio.gather(*(Store.open(url) for _ in range(4)))
        for store in stores:
            await store.aclose()
        with sqlite3.connect(tmp_path / f"round{round_}.db") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_the_models_match_the_migrations(database_url: str) -> None:
    async with Store(database_url):
        pass
    assert await _sync(database_url, _diff) == []


async def test_downgrade_to_nothing_and_up_again(database_url: str) -> None:
    async with Store(database_url):
        pass
    await _sync(database_url, _downgrade_to_base)
    assert not set(TABLES) & await _sync(database_url, _tables)  # type: ignore[operator]
    async with Store(database_url, password_hasher=FAST_HASHER) as store:
        await store.create_user("alice", "pw", Role.ADMIN)
    assert set(TABLES) <= await _sync(database_url, _tables)  # type: ignore[operator]


async def test_a_schema_from_a_newer_docklord_is_refused(database_url: str) -> None:
    async with Store(database_url):
        pass
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))  # noqa: S608
    finally:
        await engine.dispose()
    with pytest.raises(ConfigError, match="newer Docklord"):
        await Store.open(database_url)


async def test_sqlite_runs_in_wal_mode_with_its_tuning(sqlite_url: str) -> None:
    path = Path(str(make_url(sqlite_url).database))
    async with Store(sqlite_url) as store:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()
        assert _mode(path) == 0o600  # it holds password hashes
        engine = store._engine
        assert engine is not None
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": 10_000,
    }


async def test_sqlite_migrations_run_without_foreign_keys_then_check_them(
    sqlite_url: str,
) -> None:
    async with Store(sqlite_url):
        pass
    migrator = create_engine(normalize_url(sqlite_url), for_migrations=True)
    try:
        async with migrator.begin() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 0
            # A row pointing at no user, as a faulty table rebuild could leave behind.
            await conn.exec_driver_sql(
                "INSERT INTO sessions (user_id, token_hash, expires_at, created_at, last_seen_at)"
                " VALUES (999, 'x', '2030-01-01', '2030-01-01', '2030-01-01')"
            )
        with pytest.raises(ConfigError, match="broke foreign keys"):
            await upgrade(migrator)
    finally:
        await migrator.dispose()


async def test_sqlite_creates_the_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "docklord.db"
    async with Store(f"sqlite:///{path}") as store:
        assert store.dialect == "sqlite"
    assert path.exists()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/db",
        "sqlite+pysqlite:///x.db",
        "sqlite+aiosqlite://",
        "sqlite:///:memory:",
        "sqlite:///file.db?mode=memory",
        "not a url",
    ],
)
def test_unsupported_urls_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        Store(url)


def test_shorthand_urls_pick_the_async_drivers() -> None:
    assert Store("sqlite:///x.db").url == "sqlite+aiosqlite:///x.db"
    pg = Store("postgres://me:hunter2@db.example/docklord")
    assert pg.url == "postgresql+asyncpg://me:***@db.example/docklord"
    assert pg.dialect == "postgresql"


async def test_an_unreachable_database_fails_clearly() -> None:
    with pytest.raises(DocklordError, match="cannot open the database") as caught:
        await Store.open("postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/nothing")
    assert not isinstance(caught.value, ConfigError)
    assert "hunter2" not in str(caught.value)


async def test_life_cycle(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    assert await store.ping() is True
    async with store:  # entering an open store keeps it open
        assert await store.count_users() == 0
    await store.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="not open"):
        await store.count_users()
    async with store:  # and it can be opened again
        assert await store.ping() is True


async def test_ping_says_false_when_the_database_is_gone(
    postgres_schema: str, postgres_admin: tuple[asyncpg.Connection, str]
) -> None:
    async with Store(postgres_schema) as store:
        assert await store.ping() is True
        conn, _ = postgres_admin
        role = make_url(postgres_schema).username
        await conn.execute(f'ALTER ROLE "{role}" NOLOGIN')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        assert await store.ping() is False
        with pytest.raises(DocklordError, match="database error"):
            await store.record("user:a", "x")
