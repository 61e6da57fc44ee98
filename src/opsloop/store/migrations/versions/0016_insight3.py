"""insight: tag versions (edits make a new version) and archiving

``tags`` gains its current ``version`` and ``archived_at``/``archived_by``;
``tag_versions`` keeps every definition a tag has had. Existing tags become version 1
and their current definition is copied in as that version.

Revision ID: 0016_insight3
Revises: 0014
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_insight3"
down_revision = "0014"
branch_labels = None
depends_on = None

_NOW = sa.text("(CURRENT_TIMESTAMP)")


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("archived_by", sa.String(length=128), nullable=True))
    op.create_table(
        "tag_versions",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_tag_versions")),
    )
    op.execute(
        "insert into tag_versions (name, version, definition, created_by, created_at) "
        "select name, 1, definition, created_by, created_at from tags"
    )


def downgrade() -> None:
    op.drop_table("tag_versions")
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("archived_by")
        batch.drop_column("archived_at")
        batch.drop_column("version")
