"""collection: tracking consent and erasure marks

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-24 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collect_consent",
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("tracking", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_collect_consent")),
    )


def downgrade() -> None:
    op.drop_table("collect_consent")
