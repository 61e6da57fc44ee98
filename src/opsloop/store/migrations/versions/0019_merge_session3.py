"""Join the insight, strategy and reach branches of session 3 (built in parallel from 0014).

Revision ID: 0019
Revises: 0016_insight3, 0017_strategy3, 0018_reach3
Create Date: 2026-11-24
"""

from __future__ import annotations

revision = "0019"
down_revision = ("0016_insight3", "0017_strategy3", "0018_reach3")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
