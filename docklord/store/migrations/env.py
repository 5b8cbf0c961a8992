"""Alembic environment of the store.

At run time ``docklord.store`` passes an open connection in ``config.attributes["connection"]``
and the migration runs inside the caller's transaction. For development, the Alembic command
line works too, against any database URL (an async one is driven through ``asyncio.run``)::

    alembic -c docklord/store/migrations/alembic.ini -x url=sqlite+aiosqlite:///dev.db \\
        revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from docklord.store._db import normalize_url
from docklord.store._migrate import VERSION_TABLE
from docklord.store._models import Base


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic ... -x url=DATABASE_URL")
    return url


async def _run_async() -> None:
    engine = create_async_engine(normalize_url(_url()), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif context.is_offline_mode():
        _configure(url=_url(), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_async())


_main()
