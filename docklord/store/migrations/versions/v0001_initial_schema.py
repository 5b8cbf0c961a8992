"""Initial schema: users, api_tokens, sessions, nodes, enrollment_tokens, audit_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Migrations are frozen history: they never import the application's models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ROLES = "('admin', 'operator', 'viewer')"


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("node_grants", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.CheckConstraint(f"role IN {_ROLES}", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )


def _user_fk(column: str, ondelete: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete=ondelete
    )


def _api_tokens() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("role_scope", sa.String(16), nullable=True),
        _when("expires_at", nullable=True),
        _when("last_used_at", nullable=True),
        _when("revoked_at", nullable=True),
        _when("created_at"),
        sa.CheckConstraint(
            f"role_scope IS NULL OR role_scope IN {_ROLES}", name=op.f("ck_api_tokens_role_scope")
        ),
        _user_fk("user_id", "CASCADE", "api_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])


def _sessions() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _when("expires_at"),
        _when("created_at"),
        _when("last_seen_at"),
        sa.Column("source", sa.String(255), nullable=True),
        _user_fk("user_id", "CASCADE", "sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"])
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"])


def _nodes() -> None:
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("labels", sa.JSON(none_as_null=True), nullable=False),
        _when("registered_at"),
        _when("last_seen_at", nullable=True),
        _when("revoked_at", nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("engine_version", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_nodes")),
    )


def _enrollment_tokens() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        _user_fk("created_by", "SET NULL", "enrollment_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_enrollment_tokens_token_hash")),
    )
    op.create_index(op.f("ix_enrollment_tokens_created_by"), "enrollment_tokens", ["created_by"])
    op.create_index(op.f("ix_enrollment_tokens_expires_at"), "enrollment_tokens", ["expires_at"])


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        # SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid), not a BIGINT one.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _when("time"),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_node", sa.String(128), nullable=True),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("result", sa.String(255), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_time"), "audit_log", ["time"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])
    op.create_index("ix_audit_log_target_node_id", "audit_log", ["target_node", "id"])


def upgrade() -> None:
    _users()
    _api_tokens()
    _sessions()
    _nodes()
    _enrollment_tokens()
    _audit_log()


def downgrade() -> None:
    for table in ("audit_log", "enrollment_tokens", "nodes", "sessions", "api_tokens", "users"):
        op.drop_table(table)
