"""reach: slots filled by journeys (per-customer assignments) and activities (banners)

Revision ID: 0018_reach3
Revises: 0014
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_reach3"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reach_slot_assignments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("journey_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reach_slot_assignments")),
        sa.UniqueConstraint("message_key", name=op.f("uq_reach_slot_assignments_message_key")),
    )
    with op.batch_alter_table("reach_slot_assignments", schema=None) as batch_op:
        for col in ("customer_id", "journey_id", "ends_at"):
            batch_op.create_index(batch_op.f(f"ix_reach_slot_assignments_{col}"), [col])
    with op.batch_alter_table("reach_slot_contents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activity_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("hide_participants", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_reach_slot_contents_activity_id"), ["activity_id"])


def downgrade() -> None:
    with op.batch_alter_table("reach_slot_contents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reach_slot_contents_activity_id"))
        batch_op.drop_column("hide_participants")
        batch_op.drop_column("activity_id")
    with op.batch_alter_table("reach_slot_assignments", schema=None) as batch_op:
        for col in ("ends_at", "journey_id", "customer_id"):
            batch_op.drop_index(batch_op.f(f"ix_reach_slot_assignments_{col}"))
    op.drop_table("reach_slot_assignments")
