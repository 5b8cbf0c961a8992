"""API tokens and browser sessions: bearer secrets stored as SHA-256 digests.

Both are 32 random bytes (see ``_hashing``): lookups go by digest through a unique index, and
the last-use time is written at most once per ``TOUCH_INTERVAL`` so that a busy client does not
turn every request into a write.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from docklord.errors import InvalidInput, NotFound
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._hashing import new_token, token_digest
from docklord.store._models import ApiTokenRow, EnrollmentRow, SessionRow, UserRow
from docklord.store._types import ApiToken, Role, Session, User
from docklord.store._users import to_user

__all__ = ["TOUCH_INTERVAL", "TokensMixin"]

#: How stale ``last_used_at`` / ``last_seen_at`` may get before a use writes it again.
TOUCH_INTERVAL = timedelta(minutes=1)
_MAX_TOKEN_LEN = 256


def _to_token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        role_scope=None if row.role_scope is None else Role(row.role_scope),
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
    )


def _to_session(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        expires_at=row.expires_at,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        source=row.source,
    )


def _digest_or_none(plaintext: str) -> str | None:
    if not isinstance(plaintext, str) or not 0 < len(plaintext) <= _MAX_TOKEN_LEN:
        return None
    return token_digest(plaintext)


async def _require_user(session: AsyncSession, user_id: int) -> None:
    if await session.get(UserRow, user_id) is None:
        raise NotFound(f"no user with id {user_id}")


class TokensMixin(StoreBase):
    """API tokens and browser sessions. Part of ``Store``."""

    async def create_token(
        self,
        user_id: int,
        name: str,
        role_scope: Role | str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiToken, str]:
        """Creates an API token for a user.

        Args:
            user_id: the user the token acts as.
            name: a label (1-100 characters).
            role_scope: narrows the user's role for this token.
            expires_at: when the token stops working (aware, in the future); ``None``: never.

        Returns:
            The token and its plaintext. The plaintext exists only here: show it once.

        Raises:
            NotFound: no such user.
            InvalidInput: a value is malformed or ``expires_at`` is not in the future.
        """
        label = check.text(name, "the token name", 100, required=True)
        scope = None if role_scope is None else check.role(role_scope).value
        now = self._now()
        if expires_at is not None and check.aware(expires_at, "expires_at") <= now:
            raise InvalidInput("expires_at must be in the future")
        plaintext = new_token()
        row = ApiTokenRow(
            user_id=user_id,
            name=label,
            token_hash=token_digest(plaintext),
            prefix=plaintext[:8],
            role_scope=scope,
            expires_at=expires_at,
            created_at=now,
        )
        async with self._write() as session:
            await _require_user(session, user_id)
            session.add(row)
        return _to_token(row), plaintext

    async def resolve_token(self, plaintext: str) -> tuple[ApiToken, User] | None:
        """Finds the token and its user for a bearer token presented by a client.

        Returns:
            ``None`` unless the token exists, is neither revoked nor expired, and its user is
            enabled. Marks the token used (at most once per ``TOUCH_INTERVAL``).
        """
        digest = _digest_or_none(plaintext)
        if digest is None:
            return None
        async with self._read() as session:
            query = select(ApiTokenRow, UserRow).join(UserRow)
            found = (await session.execute(query.where(ApiTokenRow.token_hash == digest))).first()
        if found is None:
            return None
        token_row, user_row = found
        now = self._now()
        token = _to_token(token_row)
        if not token.is_active(now) or user_row.disabled:
            return None
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
            await self._touch(ApiTokenRow, ApiTokenRow.last_used_at, token.id, now)
            token = replace(token, last_used_at=now)
        return token, to_user(user_row)

    async def get_token(self, token_id: int) -> ApiToken:
        """The token with this id (to check its owner before revoking, for example).

        Raises:
            NotFound: no such token.
        """
        async with self._read() as session:
            row = await session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFound(f"no API token with id {token_id}")
        return _to_token(row)

    async def list_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """The tokens of one user, or of everyone; revoked and expired ones included."""
        query = select(ApiTokenRow).order_by(ApiTokenRow.id)
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        async with self._read() as session:
            return [_to_token(row) for row in await session.scalars(query)]

    async def revoke_token(self, token_id: int) -> ApiToken:
        """Revokes a token for good; revoking it again keeps the first revocation time.

        Raises:
            NotFound: no such token.
        """
        async with self._write() as session:
            row = await session.get(ApiTokenRow, token_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            if row.revoked_at is None:
                row.revoked_at = self._now()
        return _to_token(row)

    async def create_session(
        self, user_id: int, ttl: timedelta, source: str | None = None
    ) -> tuple[Session, str]:
        """Starts a browser session for a user who just signed in.

        Args:
            user_id: the user.
            ttl: how long the session lasts (it does not slide).
            source: where the sign-in came from (address, user agent), up to 255 characters.

        Returns:
            The session and its plaintext token (for the cookie). Only its digest is stored.

        Raises:
            NotFound: no such user.
            InvalidInput: ``ttl`` is not positive.
        """
        lifetime = check.ttl(ttl)
        origin = None if source is None else str(source)[:255]
        now = self._now()
        plaintext = new_token()
        row = SessionRow(
            user_id=user_id,
            token_hash=token_digest(plaintext),
            expires_at=now + lifetime,
            created_at=now,
            last_seen_at=now,
            source=origin,
        )
        async with self._write() as session:
            await _require_user(session, user_id)
            session.add(row)
        return _to_session(row), plaintext

    async def resolve_session(self, plaintext: str) -> tuple[Session, User] | None:
        """Finds the session and its user for a session cookie.

        Returns:
            ``None`` unless the session exists, has not expired and its user is enabled.
            Marks the session seen (at most once per ``TOUCH_INTERVAL``).
        """
        digest = _digest_or_none(plaintext)
        if digest is None:
            return None
        async with self._read() as session:
            query = select(SessionRow, UserRow).join(UserRow)
            found = (await session.execute(query.where(SessionRow.token_hash == digest))).first()
        if found is None:
            return None
        session_row, user_row = found
        now = self._now()
        if session_row.expires_at <= now or user_row.disabled:
            return None
        result = _to_session(session_row)
        if now - result.last_seen_at >= TOUCH_INTERVAL:
            await self._touch(SessionRow, SessionRow.last_seen_at, result.id, now)
            result = replace(result, last_seen_at=now)
        return result, to_user(user_row)

    async def delete_session(self, session_id: int) -> bool:
        """Ends a session (sign-out). Returns whether it existed; ending it twice is fine."""
        async with self._write() as session:
            deleted = await session.execute(delete(SessionRow).where(SessionRow.id == session_id))
        return bool(deleted.rowcount)  # type: ignore[attr-defined]

    async def delete_user_sessions(self, user_id: int) -> int:
        """Ends every session of a user (sign out everywhere). Returns how many there were."""
        async with self._write() as session:
            query = delete(SessionRow).where(SessionRow.user_id == user_id)
            deleted = await session.execute(query)
        return int(deleted.rowcount)  # type: ignore[attr-defined]

    async def list_sessions(self, user_id: int) -> list[Session]:
        """The unexpired sessions of a user, oldest first."""
        query = select(SessionRow).where(SessionRow.user_id == user_id)
        query = query.where(SessionRow.expires_at > self._now()).order_by(SessionRow.id)
        async with self._read() as session:
            return [_to_session(row) for row in await session.scalars(query)]

    async def purge_expired(self) -> int:
        """Deletes expired sessions, and enrollment tokens that are used or expired.

        Returns:
            How many rows went.
        """
        now = self._now()
        stale = or_(EnrollmentRow.used_at.is_not(None), EnrollmentRow.expires_at <= now)
        async with self._write() as session:
            sessions = await session.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            enrollments = await session.execute(delete(EnrollmentRow).where(stale))
        return int(sessions.rowcount + enrollments.rowcount)  # type: ignore[attr-defined]

    async def _touch(self, model: Any, column: Any, row_id: int, now: datetime) -> None:
        # Conditional, so concurrent uses of one token write at most once per interval.
        stale = or_(column.is_(None), column <= now - TOUCH_INTERVAL)
        query = update(model).where(model.id == row_id, stale).values({column: now})
        async with self._write() as session:
            await session.execute(query)
