"""monitor: saved reports (看板报表), metric alerts and their daily checks

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_reports",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("org_path", sa.String(length=512), nullable=False),
        sa.Column("rm_id", sa.String(length=32), nullable=True),
        sa.Column("own_customers_only", sa.Boolean(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=True),
        sa.Column("refresh_cron", sa.String(length=64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_monitor_reports")),
    )
    op.create_index(op.f("ix_monitor_reports_owner"), "monitor_reports", ["owner"])
    op.create_index(op.f("ix_monitor_reports_org_path"), "monitor_reports", ["org_path"])
    op.create_table(
        "monitor_alerts",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("org_path", sa.String(length=512), nullable=False),
        sa.Column("rm_id", sa.String(length=32), nullable=True),
        sa.Column("own_customers_only", sa.Boolean(), nullable=False),
        sa.Column("metric", sa.JSON(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_monitor_alerts")),
    )
    op.create_index(op.f("ix_monitor_alerts_org_path"), "monitor_alerts", ["org_path"])
    op.create_table(
        "monitor_alert_checks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("message_keys", sa.JSON(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alert_checks")),
        sa.UniqueConstraint("alert_id", "day", name=op.f("uq_monitor_alert_checks_alert_id")),
    )


def downgrade() -> None:
    op.drop_table("monitor_alert_checks")
    op.drop_index(op.f("ix_monitor_alerts_org_path"), table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index(op.f("ix_monitor_reports_org_path"), table_name="monitor_reports")
    op.drop_index(op.f("ix_monitor_reports_owner"), table_name="monitor_reports")
    op.drop_table("monitor_reports")
