"""The ORM tables. Private: rows never leave the store; ``_convert`` turns them into values.

Every instant is stored in UTC: ``UTCDateTime`` rejects naive datetimes and hands back aware
ones on every backend (SQLite has no time zone type, PostgreSQL uses ``timestamptz``). A change
here needs a new migration in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from docklord.model import Role

__all__ = [
    "AlertChannelRow",
    "AlertDeliveryRow",
    "AlertRow",
    "AlertRuleRow",
    "ApiTokenRow",
    "AuditRow",
    "Base",
    "EnrollmentRow",
    "InstanceRow",
    "NodeRow",
    "SessionRow",
    "UTCDateTime",
    "UserRow",
]

ROLE_VALUES = tuple(role.value for role in Role)
_ROLES_SQL = ", ".join(f"'{value}'" for value in ROLE_VALUES)
_ROLE_CHECK = f"role IN ({_ROLES_SQL})"
_SCOPE_CHECK = f"role_scope IS NULL OR role_scope IN ({_ROLES_SQL})"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` on every backend; naive values are a bug and raise."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite stores text: naive UTC strings in one format compare correctly as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> JSON:
    # none_as_null: Python None is SQL NULL (for node_grants it means "every node").
    return JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic and SQLite batch mode need them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_ROLE_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    node_grants: Mapped[list[str] | None] = mapped_column(_json())
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_SCOPE_CHECK, name="role_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    role_scope: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(255))


class NodeRow(Base):
    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, Any]] = mapped_column(_json())
    registered_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    agent_version: Mapped[str | None] = mapped_column(String(64))
    hostname: Mapped[str | None] = mapped_column(String(255))
    engine_version: Mapped[str | None] = mapped_column(String(64))


class EnrollmentRow(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class AuditRow(Base):
    __tablename__ = "audit_log"
    # Listing is newest first by id, filtered by one of these columns: (column, id) serves both.
    __table_args__ = (
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
        Index("ix_audit_log_target_node_id", "target_node", "id"),
    )

    # SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid), not a BIGINT one.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    time: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(100))
    target_node: Mapped[str | None] = mapped_column(String(128))
    target: Mapped[str | None] = mapped_column(String(255))
    params: Mapped[dict[str, Any] | None] = mapped_column(_json())
    result: Mapped[str] = mapped_column(String(255))
    source_addr: Mapped[str | None] = mapped_column(String(64))


class InstanceRow(Base):
    __tablename__ = "instances"
    # One instance per user per node; deleting a user with instances is refused (RESTRICT).
    __table_args__ = (
        UniqueConstraint("user_id", "node_id", name="uq_instances_user_id_node_id"),
        Index("ix_instances_node_id", "node_id"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    node_id: Mapped[str] = mapped_column(String(128))
    ssh_public_key: Mapped[str] = mapped_column(Text)
    #: ``None`` while the node is creating the container.
    container_id: Mapped[str | None] = mapped_column(String(64))
    port_base: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


# ---- alerts (migrations 0003, 0004) ------------------------------------------------------

#: SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid), not a BIGINT one.
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class AlertChannelRow(Base):
    __tablename__ = "alert_channels"
    __table_args__ = (CheckConstraint("type IN ('webhook', 'slack')", name="type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    #: A credential (Slack's incoming webhook URLs are): never logged, never shown again.
    url: Mapped[str] = mapped_column(Text)
    timeout: Mapped[float] = mapped_column(Float)
    max_attempts: Mapped[int] = mapped_column(Integer)
    backoff: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class AlertRuleRow(Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean)
    selector: Mapped[dict[str, Any]] = mapped_column(_json())
    params: Mapped[dict[str, Any]] = mapped_column(_json())
    channel_ids: Mapped[list[int]] = mapped_column(_json())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertRow(Base):
    __tablename__ = "alerts"
    # Listing is newest first by id, often only the firing ones.
    __table_args__ = (
        CheckConstraint("state IN ('firing', 'resolved')", name="state"),
        Index("ix_alerts_state_id", "state", "id"),
        Index("ix_alerts_rule_id_id", "rule_id", "id"),
        # The claim of an incident: coordinators sharing the database each see the condition,
        # and only the one whose insert lands delivers it.
        Index(
            "ux_alerts_firing_rule_subject",
            "rule_id",
            "subject",
            unique=True,
            sqlite_where=text("state = 'firing'"),
            postgresql_where=text("state = 'firing'"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    #: ``None`` once the rule is deleted: the alert stays in the history.
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    #: What the incident is about, unique per rule while firing: ``node`` or ``node/container``.
    subject: Mapped[str] = mapped_column(String(255))
    node_id: Mapped[str] = mapped_column(String(128))
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_name: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(_json())
    fired_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class AlertDeliveryRow(Base):
    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        _BIG_ID, ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="SET NULL")
    )
    event: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
