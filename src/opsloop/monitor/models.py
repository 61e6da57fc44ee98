"""Operational-store tables of the monitoring center: saved reports and metric alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class ReportRow(Base):
    """A saved analysis (看板报表): its document, owner and scope, schedule, cached result.

    The result is computed in the owner's scope (``org_path``/``rm_id``), so only callers
    whose scope covers it may read it.
    """

    __tablename__ = "monitor_reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(128), index=True)
    org_path: Mapped[str] = mapped_column(String(512), index=True)
    rm_id: Mapped[str | None] = mapped_column(String(32))
    own_customers_only: Mapped[bool] = mapped_column(Boolean, default=False)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    dataset: Mapped[str | None] = mapped_column(String(64))
    refresh_cron: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, object] | None] = mapped_column(JSON)
    result_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRow(Base):
    """A metric alert: a daily series (an event analysis), a rule, and staff to tell."""

    __tablename__ = "monitor_alerts"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(128))
    org_path: Mapped[str] = mapped_column(String(512), index=True)
    rm_id: Mapped[str | None] = mapped_column(String(32))
    own_customers_only: Mapped[bool] = mapped_column(Boolean, default=False)
    metric: Mapped[dict[str, object]] = mapped_column(JSON)
    rule: Mapped[dict[str, object]] = mapped_column(JSON)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    channel: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertCheckRow(Base):
    """One evaluation of an alert for one day (unique per alert × day: checks are idempotent)."""

    __tablename__ = "monitor_alert_checks"
    __table_args__ = (UniqueConstraint("alert_id", "day"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    baseline: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    fired: Mapped[bool] = mapped_column(Boolean)
    message_keys: Mapped[list[str]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
