"""``Store``: the coordinator's persistent state behind one async object."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from docklord.errors import DocklordError
from docklord.store._alerts import AlertsMixin
from docklord.store._audit import AuditMixin
from docklord.store._db import Clock, create_engine, normalize_url
from docklord.store._instances import InstancesMixin
from docklord.store._migrate import upgrade
from docklord.store._nodes import NodesMixin
from docklord.store._tokens import TokensMixin
from docklord.store._users import UsersMixin

__all__ = ["Store"]

log = logging.getLogger(__name__)


class Store(UsersMixin, TokensMixin, NodesMixin, InstancesMixin, AuditMixin, AlertsMixin):
    """Users, API tokens, sessions, nodes, enrollment tokens, instances and the audit log.

    Backed by SQLite (``sqlite+aiosqlite:///PATH``, the default) or PostgreSQL
    (``postgresql+asyncpg://USER@HOST/DB``, shared by several coordinators). Opening it runs
    the schema migrations. Every method that writes has committed when it returns.

    Conventions of the methods:

    - They return frozen dataclasses (``User``, ``ApiToken``...), never database rows, and
      secrets only once, as the plaintext half of what ``create_*`` returns.
    - ``get_*`` and the methods acting on one object raise ``NotFound`` for an unknown id;
      duplicates raise ``Conflict``; malformed input raises ``InvalidInput``.
    - Credential checks (``authenticate``, ``resolve_*``, ``verify_node``,
      ``consume_enrollment``) never raise for bad credentials: they return ``None`` (or a
      ``NodeVerification`` status).
    - A database failure raises ``DocklordError`` (the details stay in ``__cause__``).

    Use it as ``store = await Store.open(url)`` ... ``await store.aclose()``, or as
    ``async with Store(url) as store:``.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        password_hasher: PasswordHasher | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Prepares a store; nothing connects before ``open``/``async with``.

        Args:
            url: the database URL.
            password_hasher: argon2 parameters for passwords and node secrets (the library's
                defaults otherwise). Hashes made with other parameters are upgraded on the
                next successful sign-in.
            clock: the source of the current time (tests pass a controllable one).

        Raises:
            ConfigError: the URL is malformed or names an unsupported database.
        """
        super().__init__(clock=clock, password_hasher=password_hasher)
        self._url = normalize_url(url)
        self.audit_observers = []

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        password_hasher: PasswordHasher | None = None,
        clock: Clock | None = None,
    ) -> Store:
        """Connects and brings the schema up to date; see ``__init__`` for the arguments.

        Raises:
            ConfigError: bad URL, or a schema from a newer Docklord.
            DocklordError: the database cannot be reached.
        """
        store = cls(url, password_hasher=password_hasher, clock=clock)
        await store._start()
        return store

    @property
    def url(self) -> str:
        """The database URL, with any password masked."""
        return self._url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    async def ping(self) -> bool:
        """Whether the database answers (for readiness probes); a failure is logged."""
        try:
            async with self._read() as session:
                await session.execute(text("SELECT 1"))
        except DocklordError as exc:
            log.warning("database ping failed: %s (%r)", exc.message, exc.__cause__)
            return False
        return True

    async def aclose(self) -> None:
        """Closes every database connection. Safe to call more than once."""
        engine, self._engine = self._engine, None
        self._reader = self._writer = None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Store:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _start(self) -> None:
        if self._engine is not None:
            return
        # Creating an SQLite engine may wait for the file's lock: not on the event loop.
        migrator = await asyncio.to_thread(create_engine, self._url, for_migrations=True)
        try:
            await upgrade(migrator)
        except (SQLAlchemyError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DocklordError(f"cannot open the database {self.url}: {reason}") from exc
        finally:
            await migrator.dispose()
        self._bind(create_engine(self._url))
