"""Operational tables of the Activity center.

The ledger (``activity_ledger``) is append-only and the record of truth: stock left,
budget spent and per-customer counts are all derivable from it. ``activity_counters``
holds only the capped counters the guarded updates need (one row per cap), and
``activity_units`` is the current state of each issued unit, kept in the same
transaction as its ledger entry so a redemption is a guarded status change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base


class ActivityRow(Base):
    """One activity: its definition (validated JSON) and its approval state."""

    __tablename__ = "activities"

    activity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BenefitRow(Base):
    """A benefit in the catalogue; immutable once created (caps never move under counters)."""

    __tablename__ = "activity_benefits"

    benefit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BenefitCounter(Base):
    """A capped counter: ``used`` never exceeds ``cap`` (guarded UPDATE)."""

    __tablename__ = "activity_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    cap: Mapped[int] = mapped_column(BigInteger)


class LedgerEntry(Base):
    """One change to one unit; never updated or deleted."""

    __tablename__ = "activity_ledger"
    __table_args__ = (Index("ix_activity_ledger_benefit_kind", "benefit_id", "kind"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(32), index=True)
    benefit_id: Mapped[str] = mapped_column(String(64))
    activity_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # issue | claim | redeem | expire | revoke
    value_cents: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[str] = mapped_column(String(10))  # the unit's issue day (daily caps)
    idem_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BenefitUnit(Base):
    """The current state of one issued unit (a projection of its ledger entries)."""

    __tablename__ = "activity_units"
    __table_args__ = (Index("ix_activity_units_customer_status", "customer_id", "status"),)

    unit_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    benefit_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    activity_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    value_cents: Mapped[int] = mapped_column(BigInteger)
    threshold_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Participation(Base):
    """A customer's accepted action in an activity (check-in, draw, invite, claim)."""

    __tablename__ = "activity_participations"
    __table_args__ = (Index("ix_activity_participations_act_cust", "activity_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    day: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[str | None] = mapped_column(String(32))
    dedupe: Mapped[str | None] = mapped_column(String(200), unique=True)  # once-only actions
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Referral(Base):
    """An invite edge: invitee joined with inviter's code; rewarded once on qualifying."""

    __tablename__ = "activity_referrals"

    activity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    invitee_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inviter_id: Mapped[int] = mapped_column(BigInteger, index=True)
    rewarded: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskListEntry(Base):
    """A black or grey list entry on one dimension (customer, device, ip, phone prefix)."""

    __tablename__ = "risk_lists"

    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    list_kind: Mapped[str] = mapped_column(String(8))  # black | grey
    reason: Mapped[str | None] = mapped_column(String(200))


class RiskHit(Base):
    """One participation attempt, for the SQL sliding windows."""

    __tablename__ = "risk_hits"
    __table_args__ = (Index("ix_risk_hits_dim_value_at", "dimension", "value", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskDecision(Base):
    """A block or challenge, with the rules that fired; staff may release it."""

    __tablename__ = "risk_decisions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    device_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # block | challenge
    score: Mapped[int] = mapped_column(Integer)
    rules: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | released
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
