"""strategy: contact counters keyed by (scope, customer id) for set-based cap checks

The old ``strategy_contact_counters`` held one text key ``<scope><customer id>`` per
row; a cohort's cap check had to build, send and parse a string per customer. The new
``strategy_contact_counts`` splits the key, so one statement checks and increments a
whole cohort from its id column. Existing counts are carried over (the current
period's caps keep binding across the upgrade).

Revision ID: 0017_strategy3
Revises: 0014
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_strategy3"
down_revision = "0014"
branch_labels = None
depends_on = None

_OLD = sa.table("strategy_contact_counters", sa.column("key", sa.String), sa.column("used"))
_NEW = sa.table(
    "strategy_contact_counts",
    sa.column("scope", sa.String),
    sa.column("customer_id", sa.BigInteger),
    sa.column("used", sa.Integer),
)


def upgrade() -> None:
    op.create_table(
        "strategy_contact_counts",
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "customer_id", name=op.f("pk_strategy_contact_counts")),
        sqlite_with_rowid=False,
    )
    con = op.get_bind()
    rows = []
    for key, used in con.execute(sa.select(_OLD.c.key, _OLD.c.used)):
        scope, _, cid = str(key).rpartition("/")
        rows.append({"scope": scope + "/", "customer_id": int(cid), "used": int(used)})
        if len(rows) >= 10_000:
            con.execute(_NEW.insert(), rows)
            rows = []
    if rows:
        con.execute(_NEW.insert(), rows)
    op.drop_table("strategy_contact_counters")


def downgrade() -> None:
    op.create_table(
        "strategy_contact_counters",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_strategy_contact_counters")),
    )
    con = op.get_bind()
    rows = [
        {"key": f"{scope}{cid}", "used": int(used)}
        for scope, cid, used in con.execute(
            sa.select(_NEW.c.scope, _NEW.c.customer_id, _NEW.c.used)
        )
    ]
    if rows:
        con.execute(_OLD.insert(), rows)
    op.drop_table("strategy_contact_counts")
