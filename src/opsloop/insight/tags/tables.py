"""Operational tables of the tag catalogue: definitions, run history, imported id lists.

Values themselves are analytical data and live in the warehouse (``tag_values``); what
is small and transactional — who owns a tag, its definition and schedule, the coverage
and distribution of every run, and the ids of manual tags — lives here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class TagRow(Base):
    """One catalogue entry: identity, owner, category path, type and the full definition."""

    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(128), index=True)
    category: Mapped[str] = mapped_column(String(256), index=True)
    description: Mapped[str] = mapped_column(String(2000))
    type: Mapped[str] = mapped_column(String(16))
    value_type: Mapped[str] = mapped_column(String(8))
    schedule: Mapped[str | None] = mapped_column(String(64))
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_by: Mapped[str | None] = mapped_column(String(128))


class TagVersionRow(Base):
    """One version of a tag's definition (a new version on every edit; the first at create)."""

    __tablename__ = "tag_versions"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TagRunRow(Base):
    """One computation of one tag for one day: coverage and value distribution."""

    __tablename__ = "tag_runs"
    __table_args__ = (Index("ix_tag_runs_tag_as_of", "tag", "as_of"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    tag: Mapped[str] = mapped_column(String(128))
    as_of: Mapped[date] = mapped_column(Date)
    dataset: Mapped[str] = mapped_column(String(64))
    customers: Mapped[int] = mapped_column(BigInteger)
    with_value: Mapped[int] = mapped_column(BigInteger)
    coverage: Mapped[float] = mapped_column(Float)
    distribution: Mapped[dict[str, object]] = mapped_column(JSON)
    seconds: Mapped[float] = mapped_column(Float)
    run_by: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TagManualIdRow(Base):
    """A customer listed in a manual (imported) tag's file."""

    __tablename__ = "tag_manual_ids"

    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
