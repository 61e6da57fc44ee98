"""Operational tables of collection: sources (write keys) and identity links.

Write keys are stored as SHA-256 digests only: a key is 32 random bytes, so a fast
hash is enough (no dictionary to attack) and a lookup is one indexed equality.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base


class CollectSource(Base):
    """One app/site/server that sends events, with its write key."""

    __tablename__ = "collect_sources"

    source_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # segment | sensors
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(16))  # first characters, for humans
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdentityLink(Base):
    """An anonymous (device) id bound to the user id it first identified as."""

    __tablename__ = "collect_identity_links"

    anonymous_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    via: Mapped[str] = mapped_column(String(16))  # identify | alias | track


class CollectConsent(Base):
    """A customer's (or an erased customer's anonymous id's) tracking consent.

    No row means consent as collected by the bank's app (tracking allowed); a row with
    ``tracking`` false blocks further events (dropped or anonymised, see
    :mod:`opsloop.collect.consent`); ``erased_at`` marks a completed erasure.
    """

    __tablename__ = "collect_consent"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tracking: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    via: Mapped[str] = mapped_column(String(64))  # api | profile:<source> | erasure
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
