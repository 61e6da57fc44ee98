"""Join the tags, segments, collection and monitoring branches (built in parallel from 0009).

Revision ID: 0014
Revises: 0010, 0011, 0012, 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0014"
down_revision = ("0010", "0011", "0012", "0013")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
