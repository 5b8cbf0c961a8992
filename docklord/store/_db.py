"""Engine set-up and the transaction helpers every repository module builds on.

SQLite is tuned on every new connection: WAL journal (readers never block the writer),
``synchronous=NORMAL`` (in WAL mode a commit survives a crash of the process; only a power cut
can lose the last commits), a busy timeout (writers queue instead of failing) and foreign keys.
The SQLite driver's own transaction handling is switched off so that the store emits ``BEGIN``
itself: ``BEGIN IMMEDIATE`` for writes, which takes the write lock up front, so two writers
wait in line instead of one failing with "database is locked" half-way through.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import NullPool

from docklord.errors import ConfigError, Conflict, DocklordError

__all__ = ["WRITE_OPTION", "Clock", "StoreBase", "create_engine", "normalize_url", "utc_now"]

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
#: Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE``.
WRITE_OPTION = "docklord_write"
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class Clock(Protocol):
    """Tells the current time as an aware UTC ``datetime`` (tests pass a controllable one)."""

    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def normalize_url(url: str | URL) -> URL:
    """Parses a database URL and picks the async driver: aiosqlite or asyncpg.

    ``sqlite:///PATH`` and ``postgresql://...`` are accepted as shorthands. In-memory SQLite is
    refused: every pooled connection would see a different, empty database.

    Raises:
        ConfigError: the URL is malformed, names another database, or is in-memory SQLite.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"unsupported database {parsed.drivername!r}: use sqlite+aiosqlite:///PATH "
            "or postgresql+asyncpg://USER@HOST/DB"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite") and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    ):
        raise ConfigError("an SQLite database needs a file: sqlite+aiosqlite:///PATH")
    return parsed


def create_engine(url: URL, *, for_migrations: bool = False) -> AsyncEngine:
    """An engine for a URL from ``normalize_url``, with the SQLite tuning installed.

    Args:
        url: the database.
        for_migrations: an unpooled engine whose SQLite connections do not enforce foreign
            keys. A migration that rebuilds a table (Alembic's batch mode: copy, drop, rename)
            would otherwise cascade the drop to every row that refers to the table. The
            migration checks the keys itself before it commits (``PRAGMA foreign_key_check``).
    """
    pooling: dict[str, Any] = {"poolclass": NullPool} if for_migrations else {}
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite_file(Path(str(url.database)))
        engine = _create_async_engine(url, hide_parameters=True, **pooling)
        _install_sqlite_hooks(engine, foreign_keys=not for_migrations)
        return engine
    return _create_async_engine(url, hide_parameters=True, pool_pre_ping=True, **pooling)


def _prepare_sqlite_file(path: Path) -> None:
    # The file holds password hashes: only its owner may read it. SQLite gives the -wal and
    # -shm files the same permissions as the database file.
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    _enable_wal(path)


def _enable_wal(path: Path) -> None:
    """Switches the file to WAL once; the mode is stored in the file.

    The switch needs an exclusive lock. When several connections to a new file try it at once,
    SQLite refuses all but one at once ("database is locked") instead of calling the busy
    handler, so the switch is retried here, before any pooled connection exists. On a file
    already in WAL mode it only reads the mode.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL").fetchall()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ConfigError(f"cannot open the SQLite database {path}: {exc}") from None
                time.sleep(0.02)
    finally:
        connection.close()


def _install_sqlite_hooks(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN itself
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class StoreBase:
    """The state shared by the repository mixins that make up ``Store``."""

    _engine: AsyncEngine | None
    _clock: Clock
    _hasher: PasswordHasher

    def __init__(self, *, clock: Clock | None, password_hasher: PasswordHasher | None) -> None:
        self._engine = None
        self._reader: async_sessionmaker[AsyncSession] | None = None
        self._writer: async_sessionmaker[AsyncSession] | None = None
        self._clock = clock or utc_now
        self._hasher = password_hasher or PasswordHasher()
        # argon2 is CPU- and memory-heavy: more parallel hashes than cores only queue up in
        # threads and multiply the memory used (64 MiB each with the default parameters).
        self._hash_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    def _bind(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = async_sessionmaker(engine, expire_on_commit=False)
        write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._writer = async_sessionmaker(write_engine, expire_on_commit=False)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        if self._reader is None:
            raise RuntimeError("the store is not open")
        try:
            async with self._reader() as session:
                yield session
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc

    @asynccontextmanager
    async def _write(
        self, *, conflict: str = "conflicts with existing data"
    ) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed (durably) when the block ends.

        A unique or foreign key violation becomes ``Conflict(conflict)``; any other database
        failure a ``DocklordError``. Errors raised in the block roll the transaction back.
        """
        if self._writer is None:
            raise RuntimeError("the store is not open")
        try:
            async with self._writer() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict(conflict) from exc
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc

    async def _cpu(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs CPU-heavy ``fn`` (argon2) in a worker thread, a few at a time."""
        async with self._hash_slots:
            return await asyncio.to_thread(fn, *args, **kwargs)


def _database_error(exc: SQLAlchemyError) -> DocklordError:
    # The message names the failure class only: statements and parameters stay in the cause.
    return DocklordError(f"database error ({type(exc).__name__})")
