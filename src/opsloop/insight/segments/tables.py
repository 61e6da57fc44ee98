"""Operational tables of saved segments (客群): documents, versions, shares, size history.

The members of a materialised snapshot live in the warehouse (``segment_members``),
because a snapshot of millions of ids is analytical data; what is small and
transactional — who owns a segment, which org units it is shared with (客群共享),
each version's document, and the size of every snapshot — lives here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class SegmentRow(Base):
    """A saved segment: owner, org scope, latest version, refresh schedule, status."""

    __tablename__ = "segments"

    segment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # rule | static
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | archived
    owner: Mapped[str] = mapped_column(String(128), index=True)
    org_path: Mapped[str] = mapped_column(String(512), index=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    refresh_cron: Mapped[str | None] = mapped_column(String(64))
    dataset: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentVersionRow(Base):
    """One version of a segment document (a new version on every update)."""

    __tablename__ = "segment_versions"

    segment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentShareRow(Base):
    """The segment is visible to an org unit's subtree (head office → branches)."""

    __tablename__ = "segment_shares"

    segment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    org_path: Mapped[str] = mapped_column(String(512), primary_key=True)
    shared_by: Mapped[str] = mapped_column(String(128))
    shared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentSnapshotRow(Base):
    """One materialisation: which version, when, as of which day, and how many members."""

    __tablename__ = "segment_snapshots"
    __table_args__ = (Index("ix_segment_snapshots_seg_at", "segment_id", "materialised_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    segment_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    materialised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[date] = mapped_column(Date)
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128))
