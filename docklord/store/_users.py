"""Users: accounts, roles, node grants, password sign-in."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from docklord.errors import Conflict, NotFound
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._hashing import hash_password, needs_rehash, verify_password
from docklord.store._models import InstanceRow, UserRow
from docklord.store._types import Role, User

__all__ = ["UNSET", "Unset", "UsersMixin", "to_user"]


class Unset(enum.Enum):
    """The type of ``UNSET``."""

    UNSET = "UNSET"


#: "Leave as it is", where ``None`` is a meaningful value (``node_grants=None``: every node).
UNSET = Unset.UNSET


def to_user(row: UserRow) -> User:
    """The public value of a row (without the password hash)."""
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        node_grants=None if row.node_grants is None else tuple(row.node_grants),
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class UsersMixin(StoreBase):
    """User accounts. Part of ``Store``."""

    #: A hash to check against when the user is unknown, so that costs the same time.
    _dummy: str | None = None

    async def create_user(
        self,
        username: str,
        password: str,
        role: Role | str,
        node_grants: Iterable[str] | None = None,
    ) -> User:
        """Creates a user.

        Args:
            username: unique, case-insensitive (stored in lower case).
            password: stored as an argon2 hash only.
            role: ``admin``, ``operator`` or ``viewer``.
            node_grants: node ids the user may access; ``None`` means every node.

        Raises:
            Conflict: a user with this name exists.
            InvalidInput: a value is malformed.
        """
        name = check.username(username)
        secret = check.secret(password)
        parsed_role, grants = check.role(role), check.node_grants(node_grants)
        password_hash = await self._cpu(hash_password, secret, hasher=self._hasher)
        now = self._now()
        row = UserRow(
            username=name,
            password_hash=password_hash,
            role=parsed_role.value,
            node_grants=grants,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        async with self._write(conflict=f"user {name!r} already exists") as session:
            session.add(row)
        return to_user(row)

    async def get_user(self, user_id: int) -> User:
        """The user with this id.

        Raises:
            NotFound: no such user.
        """
        async with self._read() as session:
            row = await session.get(UserRow, user_id)
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return to_user(row)

    async def get_user_by_name(self, username: str) -> User:
        """The user with this name (case-insensitive).

        Raises:
            NotFound: no such user.
        """
        row = await self._user_row_by_name(username)
        if row is None:
            raise NotFound(f"no user named {username!r}")
        return to_user(row)

    async def list_users(self) -> list[User]:
        """Every user, oldest first."""
        async with self._read() as session:
            rows = await session.scalars(select(UserRow).order_by(UserRow.id))
            return [to_user(row) for row in rows]

    async def count_users(self) -> int:
        """How many users exist (0 on a fresh install, when the first admin is due)."""
        async with self._read() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def update_user(
        self,
        user_id: int,
        *,
        password: str | None = None,
        role: Role | str | None = None,
        node_grants: Iterable[str] | None | Unset = UNSET,
        disabled: bool | None = None,
    ) -> User:
        """Changes the given fields of a user; the others stay as they are.

        Args:
            user_id: the user to change.
            password: a new password.
            role: a new role.
            node_grants: new grants; ``None`` grants every node, ``UNSET`` leaves them.
            disabled: disables or re-enables the account.

        Raises:
            NotFound: no such user.
            Conflict: the change would leave no enabled admin.
            InvalidInput: a value is malformed.
        """
        new_role = None if role is None else check.role(role)
        grants = node_grants if isinstance(node_grants, Unset) else check.node_grants(node_grants)
        new_hash = None
        if password is not None:
            new_hash = await self._cpu(hash_password, check.secret(password), hasher=self._hasher)
        guarded = new_role is not None or disabled is not None
        async with self._write() as session:
            row = await _lock_user(session, user_id, guard_admins=guarded)
            if _loses_admin(row, new_role, disabled):
                await _ensure_other_admin(session, user_id)
            if new_hash is not None:
                row.password_hash = new_hash
            if new_role is not None:
                row.role = new_role.value
            if not isinstance(grants, Unset):
                row.node_grants = grants
            if disabled is not None:
                row.disabled = disabled
            row.updated_at = self._now()
        return to_user(row)

    async def delete_user(self, user_id: int) -> None:
        """Deletes a user with its API tokens and sessions.

        Raises:
            NotFound: no such user.
            Conflict: it is the last enabled admin, or the user still has instances.
        """
        async with self._write() as session:
            row = await _lock_user(session, user_id, guard_admins=True)
            if _loses_admin(row, None, True):
                await _ensure_other_admin(session, user_id)
            instances = await session.scalar(
                select(func.count()).where(InstanceRow.user_id == user_id)
            )
            if instances:
                raise Conflict(
                    f"{row.username} still has {instances} instance(s); delete them first"
                )
            await session.delete(row)

    async def authenticate(self, username: str, password: str) -> User | None:
        """Checks a username and password (the password sign-in).

        A hash made with other argon2 parameters than the store's is replaced by a new one on
        success, so a change of parameters reaches every active user over time.

        Returns:
            The user, or ``None`` if the name is unknown, the password is wrong or the account
            is disabled. The three take about the same time, so the answer time does not tell
            which names exist.
        """
        row = await self._user_row_by_name(username)
        candidate = password if isinstance(password, str) else ""
        if row is None:
            await self._cpu(verify_password, await self._dummy_hash(), candidate)
            return None
        if not await self._cpu(verify_password, row.password_hash, candidate):
            return None
        if row.disabled:
            return None
        if await self._cpu(needs_rehash, row.password_hash, hasher=self._hasher):
            await self._rehash_user(row, password)
        return to_user(row)

    async def _rehash_user(self, row: UserRow, password: str) -> None:
        old_hash = row.password_hash
        new_hash = await self._cpu(hash_password, password, hasher=self._hasher)
        async with self._write() as session:
            current = await session.get(UserRow, row.id, with_for_update=True)
            # Compare and set: a password changed meanwhile must not be overwritten.
            if current is not None and current.password_hash == old_hash:
                current.password_hash = new_hash

    async def _user_row_by_name(self, username: str) -> UserRow | None:
        if not isinstance(username, str):
            return None
        async with self._read() as session:
            query = select(UserRow).where(UserRow.username == username.strip().lower())
            return (await session.scalars(query)).one_or_none()

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self._cpu(hash_password, "docklord-dummy", hasher=self._hasher)
        return self._dummy


def _enabled_admins() -> Select[int]:
    query = select(UserRow.id).where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
    return query.order_by(UserRow.id).with_for_update()


async def _lock_user(session: AsyncSession, user_id: int, *, guard_admins: bool) -> UserRow:
    # A change that can remove an admin first locks every enabled admin, always in id order,
    # then the user: two concurrent demotions queue up instead of deadlocking, and the second
    # sees the first one's result. (PostgreSQL; SQLite serialises write transactions anyway.)
    if guard_admins:
        await session.execute(_enabled_admins())
    row = await session.get(UserRow, user_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return row


def _loses_admin(row: UserRow, new_role: Role | None, disabled: bool | None) -> bool:
    if row.role != Role.ADMIN.value or row.disabled:
        return False
    return (new_role is not None and new_role is not Role.ADMIN) or disabled is True


async def _ensure_other_admin(session: AsyncSession, user_id: int) -> None:
    admins = await session.scalars(_enabled_admins())
    if not any(admin_id != user_id for admin_id in admins):
        raise Conflict("this would leave no enabled admin; make another user admin first")
