"""collection: sources (write keys) and identity links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collect_sources",
        sa.Column("source_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_collect_sources")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_collect_sources_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_collect_sources_name")),
    )
    op.create_table(
        "collect_identity_links",
        sa.Column("anonymous_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("anonymous_id", name=op.f("pk_collect_identity_links")),
    )
    with op.batch_alter_table("collect_identity_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collect_identity_links_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collect_identity_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collect_identity_links_user_id"))
    op.drop_table("collect_identity_links")
    op.drop_table("collect_sources")
