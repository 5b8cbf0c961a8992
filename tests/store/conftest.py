"""Fixtures of the store tests: every ``store`` test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DOCKLORD_TEST_DATABASE_URL`` (a role that may CREATE DATABASE) or, when
that is unset, from ``scripts/postgres`` (a private cluster). No PostgreSQL is a test failure,
never a skip, in CI and locally alike. The session creates one database (dropped at the end);
each PostgreSQL test gets a new role owning a new, empty schema in it (dropped afterwards), so
every test starts from a clean schema.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from argon2 import PasswordHasher
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from docklord.store import Store
from docklord.testing import unique_name

ROOT = Path(__file__).resolve().parents[2]
TABLES = (
    "users",
    "api_tokens",
    "sessions",
    "nodes",
    "enrollment_tokens",
    "audit_log",
    "instances",
)

#: Cheap argon2 parameters: the tests hash hundreds of times. (The defaults are tested too.)
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakeClock:
    """A clock the test moves by hand (starts at the real time)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of a PostgreSQL whose role may create databases and roles."""
    url = os.environ.get("DOCKLORD_TEST_DATABASE_URL", "")
    if url:
        return url
    try:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "postgres")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"no PostgreSQL for the store tests: scripts/postgres failed to run: {exc}")
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(
            "no PostgreSQL for the store tests: set DOCKLORD_TEST_DATABASE_URL to a database "
            "whose role may create databases and roles, or run the tests as root on Debian "
            "so that scripts/postgres can start a private one. scripts/postgres said:\n"
            f"{proc.stderr}"
        )
    return proc.stdout.strip().splitlines()[-1]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def postgres_admin(postgres_url: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A database of this test session, and a superuser connection to it.

    Dropped, with everything in it, at the end of the session.
    """
    name = unique_name("store").replace("-", "_")
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(postgres_url), timeout=30)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"cannot connect to PostgreSQL at {postgres_url}: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            yield conn, url
        finally:
            await conn.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_schema(postgres_admin: tuple[asyncpg.Connection, str]) -> AsyncIterator[str]:
    """The URL of a new role that owns a new, empty schema of the same name.

    PostgreSQL's default ``search_path`` (``"$user", public``) puts that schema first, so the
    store sees a clean database of its own, for a few milliseconds instead of the cost of a
    ``CREATE DATABASE``; and it runs as an ordinary role, not as a superuser.
    """
    conn, url = postgres_admin
    name = unique_name("store").replace("-", "_")
    password = secrets.token_hex(16)
    await conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    try:
        await conn.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
        yield (
            make_url(url)
            .set(username=name, password=password)
            .render_as_string(hide_password=False)
        )
    finally:
        await _drop_role(conn, name)


async def _drop_role(conn: asyncpg.Connection, name: str) -> None:
    # Connections of a killed client may linger until the server notices: end them first.
    for _ in range(100):
        ended = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        if not ended:
            break
        await asyncio.sleep(0.05)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    await conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'docklord.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database: SQLite, then PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_schema"
    return str(request.getfixturevalue(name))


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the ``store`` fixture."""
    return FakeClock()


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """An open store on a fresh database, with a hand-moved clock and cheap hashing."""
    async with Store(database_url, password_hasher=FAST_HASHER, clock=clock) as opened:
        yield opened


OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture
async def open_store(database_url: str, clock: FakeClock) -> AsyncIterator[OpenStore]:
    """Opens more stores on the test's database (closed at the end of the test)."""
    opened: list[Store] = []

    async def _open(**kwargs: Any) -> Store:
        kwargs.setdefault("password_hasher", FAST_HASHER)
        kwargs.setdefault("clock", clock)
        store = await Store.open(database_url, **kwargs)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        await store.aclose()


async def set_secret_hash(url: str, node_id: str, secret_hash: str) -> None:
    """Writes a node's secret hash past the store (as an older Docklord stored it)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE nodes SET secret_hash = :h WHERE node_id = :n"),
                {"h": secret_hash, "n": node_id},
            )
    finally:
        await engine.dispose()


async def raw_rows(url: str, table: str) -> list[dict[str, Any]]:
    """Every row of a table as stored, read past the store (plain SQL)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()
