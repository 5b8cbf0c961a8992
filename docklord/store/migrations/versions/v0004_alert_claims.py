"""Alerts: one firing incident per (rule, subject), so coordinators sharing the database
deliver each incident once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Migrations are frozen history: they never import the application's models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FIRING = sa.text("state = 'firing'")


def upgrade() -> None:
    # Replicas before this revision could each have opened the same incident: the oldest one
    # stays firing, the copies are marked resolved (their deliveries stay in the history).
    op.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = fired_at "
        "WHERE state = 'firing' AND rule_id IS NOT NULL AND id > ("
        "SELECT MIN(a.id) FROM alerts a WHERE a.state = 'firing' "
        "AND a.rule_id = alerts.rule_id AND a.subject = alerts.subject)"
    )
    op.create_index(
        "ux_alerts_firing_rule_subject",
        "alerts",
        ["rule_id", "subject"],
        unique=True,
        sqlite_where=_FIRING,
        postgresql_where=_FIRING,
    )


def downgrade() -> None:
    op.drop_index("ux_alerts_firing_rule_subject", table_name="alerts")
