"""Operational tables of the Strategy center.

``strategy_states`` is where each customer is in a journey (node, since when, the
durable timer ``due_at``); ``strategy_steps`` records every action step once under the
unique key (journey, version, node, customer, visit), in the same transaction as the
state move, so a crash mid-step is rolled back whole and a rerun neither drops nor
repeats a step. ``strategy_outbox`` is the recording channel until Reach takes over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class JourneyRow(Base):
    """A journey: its latest version and which version runs."""

    __tablename__ = "strategy_journeys"

    journey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    running_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JourneyVersionRow(Base):
    """One version of a journey document and its approval state (maker-checker)."""

    __tablename__ = "strategy_journey_versions"

    journey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerState(Base):
    """Where one visit of one customer is: node, since, and when its timer is due."""

    __tablename__ = "strategy_states"
    __table_args__ = (
        UniqueConstraint("journey_id", "customer_id", "entry_key", name="uq_strategy_states_entry"),
        Index("ix_strategy_states_due", "journey_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    visit: Mapped[int] = mapped_column(Integer)
    entry_key: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # waiting | done | exited | control
    arm: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StepRow(Base):
    """One action step's outcome, once per (journey, version, node, customer, visit)."""

    __tablename__ = "strategy_steps"
    __table_args__ = (
        UniqueConstraint(
            "journey_id", "version", "node_id", "customer_id", "visit", name="uq_strategy_steps_key"
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    visit: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # done | suppressed | skipped
    reason: Mapped[str] = mapped_column(String(32), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """The recording channel: what would go to Reach/Activity, once per step key."""

    __tablename__ = "strategy_outbox"
    __table_args__ = (
        UniqueConstraint(
            "journey_id",
            "version",
            "node_id",
            "customer_id",
            "visit",
            name="uq_strategy_outbox_key",
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    visit: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # message | benefit | rm_task | tag | webhook
    channel: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContactCount(Base):
    """One customer's contacts under one cap scope (guarded increments).

    ``scope`` is the cap rule's period key (``sms/week/2026-W48/``, a journey's
    ``jcap/<journey>/<node>/<bucket>/``). Keyed by (scope, customer id) — not one text
    key — so a cohort's check-and-increment is one set-based statement over the id
    column, and a sorted cohort inserts in index order; without a rowid on SQLite (the
    primary key is the table).
    """

    __tablename__ = "strategy_contact_counts"
    __table_args__ = ({"sqlite_with_rowid": False},)

    scope: Mapped[str] = mapped_column(String(160), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


class NodeStat(Base):
    """Running counts per node and metric (entered, branch:<b>, waiting, sent, suppressed:<r>)."""

    __tablename__ = "strategy_node_stats"

    journey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
