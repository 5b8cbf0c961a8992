"""Instances: users' SSH boxes, one per user per node.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("ssh_public_key", sa.Text(), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=True),
        sa.Column("port_base", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_instances_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
        sa.UniqueConstraint("user_id", "node_id", name="uq_instances_user_id_node_id"),
    )
    op.create_index("ix_instances_node_id", "instances", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_instances_node_id", table_name="instances")
    op.drop_table("instances")
