"""segments: saved segments, versions, shares (客群共享), snapshot size history

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

_NOW = sa.text("(CURRENT_TIMESTAMP)")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("org_path", sa.String(length=512), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("refresh_cron", sa.String(length=64), nullable=True),
        sa.Column("dataset", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_segments")),
    )
    op.create_index(op.f("ix_segments_org_path"), "segments", ["org_path"])
    op.create_index(op.f("ix_segments_owner"), "segments", ["owner"])
    op.create_index(op.f("ix_segments_status"), "segments", ["status"])
    op.create_table(
        "segment_versions",
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "version", name=op.f("pk_segment_versions")),
    )
    op.create_table(
        "segment_shares",
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("org_path", sa.String(length=512), nullable=False),
        sa.Column("shared_by", sa.String(length=128), nullable=False),
        sa.Column("shared_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "org_path", name=op.f("pk_segment_shares")),
    )
    op.create_table(
        "segment_snapshots",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("segment_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("materialised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_snapshots")),
    )
    op.create_index(
        "ix_segment_snapshots_seg_at", "segment_snapshots", ["segment_id", "materialised_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_segment_snapshots_seg_at", table_name="segment_snapshots")
    op.drop_table("segment_snapshots")
    op.drop_table("segment_shares")
    op.drop_table("segment_versions")
    op.drop_index(op.f("ix_segments_status"), table_name="segments")
    op.drop_index(op.f("ix_segments_owner"), table_name="segments")
    op.drop_index(op.f("ix_segments_org_path"), table_name="segments")
    op.drop_table("segments")
