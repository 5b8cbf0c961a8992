"""Instances: users' SSH boxes, one per user per node.

Creating one takes two steps around the node's work: ``reserve_instance`` writes the row first
(the unique ``(user_id, node_id)`` index makes two concurrent requests of one user for one node
collide here, before any container exists), and ``complete_instance`` records the container and
its ports once the node made them. A failed creation deletes the reservation; one that a
coordinator crash cut short is settled at the next start (``coordinator/_instances.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from docklord.errors import NotFound
from docklord.store import _validate as check
from docklord.store._db import StoreBase
from docklord.store._models import InstanceRow, UserRow
from docklord.store._types import Instance

__all__ = ["InstancesMixin"]

_MAX_KEY = 16_384


def _to_instance(row: InstanceRow, owner: str) -> Instance:
    return Instance(
        id=row.id,
        user_id=row.user_id,
        owner=owner,
        node_id=row.node_id,
        ssh_public_key=row.ssh_public_key,
        container_id=row.container_id,
        port_base=row.port_base,
        created_at=row.created_at,
    )


def _rows(rows: Sequence[Any]) -> list[Instance]:
    return [_to_instance(row, owner) for row, owner in rows]


class InstancesMixin(StoreBase):
    """Users' instances. Part of ``Store``."""

    async def reserve_instance(self, user_id: int, node_id: str, ssh_public_key: str) -> Instance:
        """Records a new instance of ``user_id`` on ``node_id``, not created yet.

        Raises:
            Conflict: the user already has an instance on that node.
            NotFound: no such user.
            InvalidInput: an empty node id or key, or a key over 16 KiB.
        """
        node_id = str(check.text(node_id, "node_id", 128, required=True))
        key = str(check.text(ssh_public_key, "ssh_public_key", _MAX_KEY, required=True))
        conflict = f"you already have an instance on node {node_id}"
        async with self._write(conflict=conflict) as session:
            user = await session.get(UserRow, user_id)
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            row = InstanceRow(
                id=secrets.token_hex(8),
                user_id=user_id,
                node_id=node_id,
                ssh_public_key=key,
                container_id=None,
                port_base=None,
                created_at=self._now(),
            )
            session.add(row)
            await session.flush()
            return _to_instance(row, user.username)

    async def complete_instance(self, instance_id: str, container_id: str, port_base: int) -> None:
        """Records the container and first port of a reserved instance.

        Raises:
            NotFound: no such instance (it was deleted meanwhile).
        """
        async with self._write() as session:
            result = await session.execute(
                update(InstanceRow)
                .where(InstanceRow.id == instance_id)
                .values(container_id=container_id, port_base=port_base)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no instance {instance_id}")

    async def get_instance(self, instance_id: str) -> Instance:
        """The instance with this id.

        Raises:
            NotFound: no such instance.
        """
        async with self._read() as session:
            found = (
                await session.execute(
                    select(InstanceRow, UserRow.username)
                    .join(UserRow, UserRow.id == InstanceRow.user_id)
                    .where(InstanceRow.id == instance_id)
                )
            ).first()
        if found is None:
            raise NotFound(f"no instance {instance_id}")
        return _to_instance(found[0], found[1])

    async def list_instances(self, *, user_id: int | None = None) -> list[Instance]:
        """Every instance, or one user's, oldest first."""
        query = select(InstanceRow, UserRow.username).join(
            UserRow, UserRow.id == InstanceRow.user_id
        )
        if user_id is not None:
            query = query.where(InstanceRow.user_id == user_id)
        async with self._read() as session:
            rows = (await session.execute(query.order_by(InstanceRow.created_at))).all()
        return _rows(rows)

    async def list_unfinished_instances(self) -> list[Instance]:
        """Instances reserved but never completed (no container recorded), oldest first."""
        query = (
            select(InstanceRow, UserRow.username)
            .join(UserRow, UserRow.id == InstanceRow.user_id)
            .where(InstanceRow.container_id.is_(None))
        )
        async with self._read() as session:
            rows = (await session.execute(query.order_by(InstanceRow.created_at))).all()
        return _rows(rows)

    async def count_instances_by_node(self) -> dict[str, int]:
        """How many instances each node holds (nodes without any are left out)."""
        query = select(InstanceRow.node_id, func.count()).group_by(InstanceRow.node_id)
        async with self._read() as session:
            return {node: count for node, count in (await session.execute(query)).all()}

    async def delete_instance(self, instance_id: str) -> None:
        """Forgets an instance (the caller removed its container first).

        Raises:
            NotFound: no such instance.
        """
        async with self._write() as session:
            result = await session.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no instance {instance_id}")
