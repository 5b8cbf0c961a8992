"""The coordinator's persistent state: users, tokens, sessions, nodes, instances, audit log,
alert rules, channels and alerts.

``Store`` is the one entry point; it hands out the frozen dataclasses below and never a
database row. SQLite (WAL mode) by default, PostgreSQL for several coordinator replicas; the
schema is migrated by the packaged Alembic migrations when the store opens::

    async with Store("sqlite+aiosqlite:///var/lib/docklord/docklord.db") as store:
        user = await store.create_user("alice", "correct horse", Role.ADMIN)
        token, plaintext = await store.create_token(user.id, "ci")

The hashing helpers are public for the few callers that need them outside the store (for
example a node generating its first secret with ``new_token``).
"""

from __future__ import annotations

from docklord.store._alerts import Alert, AlertChannel, AlertDelivery, AlertRule
from docklord.store._db import Clock
from docklord.store._hashing import (
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from docklord.store._store import Store
from docklord.store._tokens import TOUCH_INTERVAL
from docklord.store._types import (
    ApiToken,
    AuditEntry,
    EnrollmentToken,
    Instance,
    NodeAuth,
    NodeRecord,
    NodeVerification,
    Role,
    Session,
    User,
)
from docklord.store._users import UNSET, Unset

__all__ = [
    "TOUCH_INTERVAL",
    "UNSET",
    "Alert",
    "AlertChannel",
    "AlertDelivery",
    "AlertRule",
    "ApiToken",
    "AuditEntry",
    "Clock",
    "EnrollmentToken",
    "Instance",
    "NodeAuth",
    "NodeRecord",
    "NodeVerification",
    "Role",
    "Session",
    "Store",
    "Unset",
    "User",
    "hash_password",
    "needs_rehash",
    "new_token",
    "token_digest",
    "verify_password",
]
