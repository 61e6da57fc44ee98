"""tags: catalogue, run history (coverage, distribution), manual tag id lists

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NOW = sa.text("(CURRENT_TIMESTAMP)")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("value_type", sa.String(length=8), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tags")),
    )
    op.create_index(op.f("ix_tags_owner"), "tags", ["owner"])
    op.create_index(op.f("ix_tags_category"), "tags", ["category"])
    op.create_table(
        "tag_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.Column("with_value", sa.BigInteger(), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("distribution", sa.JSON(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("run_by", sa.String(length=128), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_runs")),
    )
    op.create_index("ix_tag_runs_tag_as_of", "tag_runs", ["tag", "as_of"])
    op.create_table(
        "tag_manual_ids",
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("tag", "customer_id", name=op.f("pk_tag_manual_ids")),
    )


def downgrade() -> None:
    op.drop_table("tag_manual_ids")
    op.drop_index("ix_tag_runs_tag_as_of", table_name="tag_runs")
    op.drop_table("tag_runs")
    op.drop_index(op.f("ix_tags_category"), table_name="tags")
    op.drop_index(op.f("ix_tags_owner"), table_name="tags")
    op.drop_table("tags")
