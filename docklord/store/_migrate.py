"""Runs the packaged Alembic migrations, without an ``alembic.ini``.

``Store.open`` calls ``upgrade`` on every start. It is safe when several coordinators start at
once: on PostgreSQL the upgrade holds an advisory lock, on SQLite the write lock
(``BEGIN IMMEDIATE``), so the others wait and then find the schema current. Within one process
upgrades also take turns, because Alembic keeps the running migration in a module global
(``alembic.context``), which two interleaved upgrades would overwrite.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from docklord.errors import ConfigError
from docklord.store._db import WRITE_OPTION

__all__ = ["MIGRATIONS_DIR", "VERSION_TABLE", "alembic_config", "upgrade", "upgrade_sync"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Our own name, so Docklord can share a PostgreSQL database with another Alembic project.
VERSION_TABLE = "docklord_alembic_version"
_PG_LOCK_KEY = 0x646F636B6C6F7264  # "docklord"
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _turn() -> asyncio.Lock:
    """The lock that makes this event loop's upgrades run one at a time."""
    loop = asyncio.get_running_loop()
    lock = _turns.get(loop)
    if lock is None:
        lock = _turns[loop] = asyncio.Lock()
    return lock


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations.

    Args:
        connection: a synchronous connection (inside ``AsyncConnection.run_sync``) that
            ``env.py`` migrates, in the caller's transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_sync(connection: Connection, revision: str = "head") -> None:
    """Upgrades the database behind ``connection`` to ``revision``, in its transaction.

    Raises:
        ConfigError: the database holds a revision this version of Docklord does not know
            (written by a newer version), or another Alembic failure.
    """
    try:
        command.upgrade(alembic_config(connection), revision)
    except CommandError as exc:
        raise ConfigError(
            f"cannot migrate the database schema ({exc}); was it created by a newer Docklord?"
        ) from exc


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrades the schema to ``revision`` in one transaction (all or nothing).

    Args:
        engine: from ``create_engine(url, for_migrations=True)``.
        revision: the target; the newest by default.

    Raises:
        ConfigError: see ``upgrade_sync``; or the migration left rows whose foreign keys point
            nowhere (SQLite), in which case nothing is committed.
    """
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    async with _turn(), write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        await conn.run_sync(upgrade_sync, revision)
        if conn.dialect.name == "sqlite":
            broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise ConfigError(f"the schema migration broke foreign keys: {broken[:5]}")
