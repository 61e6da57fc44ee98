"""Tables of the operational store: small, transactional state the centers own.

The org tree and RMs are mirrored here from the warehouse because access control
(data scope 辖内) must resolve them inside a transaction; products likewise, because
benefits and activities reference them. Schema changes go through Alembic migrations
in ``migrations/versions``; a test checks the models and the migrations agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, object]: JSON}


class OrgUnit(Base):
    __tablename__ = "org_units"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.org_id"))
    level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    city: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), index=True)


class RelationshipManager(Base):
    __tablename__ = "relationship_managers"

    rm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("org_units.org_id"))
    org_path: Mapped[str] = mapped_column(String(512), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    hired_on: Mapped[date | None] = mapped_column(Date)


class Product(Base):
    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str | None] = mapped_column(String(128))
    risk_level: Mapped[int | None] = mapped_column(Integer)
    annual_rate: Mapped[float | None] = mapped_column(Float)
    min_amount: Mapped[float | None] = mapped_column(Float)


class DatasetLoad(Base):
    """One row per generate/load run: what was written into which warehouse dataset."""

    __tablename__ = "dataset_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    row_counts: Mapped[dict[str, object]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
