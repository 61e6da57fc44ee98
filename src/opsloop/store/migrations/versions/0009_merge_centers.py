"""Join the Reach, Activity and Strategy branches (built in parallel from 0003).

Revision ID: 0009
Revises: 0004, 0005, 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "0009"
down_revision = ("0004", "0005", "0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
