"""Nodes (credentials and what they last reported) and their one-time enrollment tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from docklord.errors import Conflict, NotFound
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._hashing import (
    FAST_SECRET_MIN,
    hash_node_secret,
    is_fast_hash,
    new_token,
    node_secret_needs_rehash,
    token_digest,
    verify_node_secret,
)
from docklord.store._models import EnrollmentRow, NodeRow, UserRow
from docklord.store._types import EnrollmentToken, NodeAuth, NodeRecord, NodeVerification
from docklord.store._users import UNSET, Unset

__all__ = ["NodesMixin"]


def _to_node(row: NodeRow) -> NodeRecord:
    return NodeRecord(
        node_id=row.node_id,
        name=row.name,
        labels=dict(row.labels or {}),
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
        revoked_at=row.revoked_at,
        agent_version=row.agent_version,
        hostname=row.hostname,
        engine_version=row.engine_version,
    )


def _to_enrollment(row: EnrollmentRow) -> EnrollmentToken:
    return EnrollmentToken(
        id=row.id,
        node_id=row.node_id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class NodesMixin(StoreBase):
    """Nodes and enrollment tokens. Part of ``Store``."""

    async def register_node(
        self,
        node_id: str,
        secret: str,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> NodeRecord:
        """Registers a node with its secret, stored hashed (``hash_node_secret``: a fast keyed
        hash for a machine-made secret, argon2 for a short one).

        Raises:
            Conflict: a node with this id exists (revoked or not).
            InvalidInput: a value is malformed.
        """
        ident = check.node_id(node_id)
        plain = check.secret(secret, "node secret")
        row = NodeRow(
            node_id=ident,
            name=check.text(name, "the node name", 255),
            labels=check.labels(labels),
            registered_at=self._now(),
        )
        row.secret_hash = await self._hash_node_secret(plain)
        async with self._write(conflict=f"node {ident!r} is already registered") as session:
            session.add(row)
        return _to_node(row)

    async def verify_node(self, node_id: str, secret: str) -> NodeVerification:
        """Checks a node's credentials (on connect, or as an access key for that node).

        The secret is checked before the revocation, so only a holder of the right secret
        learns that a node is revoked. A hash of the wrong kind or with outdated parameters
        is replaced on success (an argon2 hash of a machine-made secret becomes the fast one).

        Returns:
            The status (``UNKNOWN``, ``BAD_SECRET``, ``REVOKED`` or ``OK``) and the node's
            record whenever the id is known.
        """
        async with self._read() as session:
            row = await session.get(NodeRow, node_id) if isinstance(node_id, str) else None
        if row is None:
            return NodeVerification(NodeAuth.UNKNOWN, None)
        node = _to_node(row)
        if not isinstance(secret, str) or not await self._check_node_secret(
            row.secret_hash, secret
        ):
            return NodeVerification(NodeAuth.BAD_SECRET, node)
        if node.revoked:
            return NodeVerification(NodeAuth.REVOKED, node)
        if node_secret_needs_rehash(row.secret_hash, secret, hasher=self._hasher):
            new_hash = await self._hash_node_secret(secret)
            query = update(NodeRow).where(
                NodeRow.node_id == node_id, NodeRow.secret_hash == row.secret_hash
            )
            async with self._write() as session:
                await session.execute(query.values(secret_hash=new_hash))
        return NodeVerification(NodeAuth.OK, node)

    async def _check_node_secret(self, secret_hash: str, secret: str) -> bool:
        # The fast keyed hash takes microseconds: a worker thread would cost more than it.
        if is_fast_hash(secret_hash):
            return verify_node_secret(secret_hash, secret)
        return await self._cpu(verify_node_secret, secret_hash, secret, hasher=self._hasher)

    async def _hash_node_secret(self, secret: str) -> str:
        if len(secret) >= FAST_SECRET_MIN:
            return hash_node_secret(secret)
        return await self._cpu(hash_node_secret, secret, hasher=self._hasher)

    async def count_unseen_nodes(self) -> int:
        """How many nodes, not revoked, have never been seen online (``last_seen_at`` unset)."""
        query = select(func.count()).select_from(NodeRow)
        query = query.where(NodeRow.last_seen_at.is_(None), NodeRow.revoked_at.is_(None))
        async with self._read() as session:
            return int((await session.scalar(query)) or 0)

    async def get_node(self, node_id: str) -> NodeRecord:
        """The node with this id.

        Raises:
            NotFound: no such node.
        """
        async with self._read() as session:
            row = await session.get(NodeRow, node_id)
        if row is None:
            raise NotFound(f"no node {node_id!r}")
        return _to_node(row)

    async def list_nodes(self) -> list[NodeRecord]:
        """Every registered node (revoked ones included), by id."""
        async with self._read() as session:
            rows = await session.scalars(select(NodeRow).order_by(NodeRow.node_id))
            return [_to_node(row) for row in rows]

    async def touch_node(
        self,
        node_id: str,
        *,
        last_seen_at: datetime | None = None,
        agent_version: str | None = None,
        hostname: str | None = None,
        engine_version: str | None = None,
    ) -> None:
        """Records that a node was seen, with what it reported; ``None`` leaves a field as is.

        Args:
            node_id: the node.
            last_seen_at: when it was seen (aware); now if not given.
            agent_version: the agent's version (up to 64 characters).
            hostname: the host name (up to 255 characters).
            engine_version: the Docker Engine version (up to 64 characters).

        Raises:
            NotFound: no such node.
        """
        seen = self._now() if last_seen_at is None else check.aware(last_seen_at, "last_seen_at")
        values: dict[str, object] = {"last_seen_at": seen}
        for key, value, size in (
            ("agent_version", agent_version, 64),
            ("hostname", hostname, 255),
            ("engine_version", engine_version, 64),
        ):
            if value is not None:
                values[key] = check.text(value, key, size)
        async with self._write() as session:
            result = await session.execute(
                update(NodeRow).where(NodeRow.node_id == node_id).values(values)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no node {node_id!r}")

    async def update_node(
        self,
        node_id: str,
        *,
        name: str | None | Unset = UNSET,
        labels: Mapping[str, str] | Unset = UNSET,
    ) -> NodeRecord:
        """Renames or relabels a node (not a revoked one); what is ``UNSET`` stays as it is.

        Args:
            node_id: the node.
            name: its display name; ``None`` or ``""`` clears it.
            labels: its labels, replacing the old ones.

        Raises:
            NotFound: no such node, or it is revoked.
            InvalidInput: a value is malformed.
        """
        values: dict[str, object] = {}
        if not isinstance(name, Unset):
            values["name"] = check.text(name, "the node name", 255) or None
        if not isinstance(labels, Unset):
            values["labels"] = check.labels(labels)
        async with self._write() as session:
            row = await session.get(NodeRow, node_id, with_for_update=True)
            if row is None or row.revoked_at is not None:
                raise NotFound(f"no node {node_id!r}")
            for key, value in values.items():
                setattr(row, key, value)
        return _to_node(row)

    async def revoke_node(self, node_id: str) -> NodeRecord:
        """Revokes a node: its credentials stop working (``verify_node`` says ``REVOKED``).

        Revoking it again keeps the first revocation time.

        Raises:
            NotFound: no such node.
        """
        async with self._write() as session:
            row = await session.get(NodeRow, node_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no node {node_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self._now()
        return _to_node(row)

    async def delete_node(self, node_id: str) -> None:
        """Forgets a node; it can register again afterwards.

        Raises:
            NotFound: no such node.
        """
        async with self._write() as session:
            result = await session.execute(delete(NodeRow).where(NodeRow.node_id == node_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no node {node_id!r}")

    async def create_enrollment(
        self, *, ttl: timedelta, node_id: str | None = None, created_by: int | None = None
    ) -> tuple[EnrollmentToken, str]:
        """Creates a one-time token with which a new node can register.

        Args:
            ttl: how long the token can be used.
            node_id: reserves the token for this node id; ``None``: the node picks its id.
            created_by: the id of the admin creating it.

        Returns:
            The token and its plaintext (shown once; only its digest is stored).

        Raises:
            Conflict: ``node_id`` is already registered.
            NotFound: ``created_by`` is not a user.
            InvalidInput: a value is malformed.
        """
        lifetime = check.ttl(ttl)
        ident = None if node_id is None else check.node_id(node_id)
        now = self._now()
        plaintext = new_token()
        row = EnrollmentRow(
            token_hash=token_digest(plaintext),
            node_id=ident,
            created_by=created_by,
            created_at=now,
            expires_at=now + lifetime,
        )
        async with self._write() as session:
            if ident is not None and await session.get(NodeRow, ident) is not None:
                raise Conflict(f"node {ident!r} is already registered")
            if created_by is not None and await session.get(UserRow, created_by) is None:
                raise NotFound(f"no user with id {created_by}")
            session.add(row)
        return _to_enrollment(row), plaintext

    async def consume_enrollment(self, plaintext: str) -> EnrollmentToken | None:
        """Uses up an enrollment token: atomically, so of any number of concurrent uses of one
        token exactly one succeeds.

        Returns:
            The token (with ``used_at`` set), or ``None`` if it is unknown, used or expired.
        """
        if not isinstance(plaintext, str) or not plaintext:
            return None
        now = self._now()
        query = (
            update(EnrollmentRow)
            .where(EnrollmentRow.token_hash == token_digest(plaintext))
            .where(EnrollmentRow.used_at.is_(None), EnrollmentRow.expires_at > now)
            .values(used_at=now)
            .returning(EnrollmentRow)
        )
        async with self._write() as session:
            row = (await session.scalars(query)).first()
        return None if row is None else _to_enrollment(row)

    async def list_enrollments(self, *, pending_only: bool = False) -> list[EnrollmentToken]:
        """Enrollment tokens, oldest first; ``pending_only`` keeps the unused, unexpired ones."""
        query = select(EnrollmentRow).order_by(EnrollmentRow.id)
        if pending_only:
            query = query.where(
                EnrollmentRow.used_at.is_(None), EnrollmentRow.expires_at > self._now()
            )
        async with self._read() as session:
            return [_to_enrollment(row) for row in await session.scalars(query)]

    async def delete_enrollment(self, enrollment_id: int) -> None:
        """Withdraws an enrollment token.

        Raises:
            NotFound: no such token.
        """
        query = delete(EnrollmentRow).where(EnrollmentRow.id == enrollment_id)
        async with self._write() as session:
            result = await session.execute(query)
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no enrollment token with id {enrollment_id}")
