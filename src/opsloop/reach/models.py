"""Operational tables of the Reach center (触达中心).

``reach_outbox`` is the record of truth for every message to send: one row per unique
key, claimed by dispatch workers under a lease, and never sent by two workers at once
while the lease holds. ``reach_contacts`` is the append-only contact history (attempts,
suppressions, deliveries, responses). ``reach_consent`` holds consent overrides that win
over the warehouse's ``customers.consent_*`` columns (an unsubscribe acts at once, long
before the next warehouse load); later centers read it through
:func:`opsloop.reach.consent.blocked`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.models import Base

ID = BigInteger().with_variant(Integer, "sqlite")


class OutboxRow(Base):
    """One message to send. ``status``: pending | sending | sent | retry | dead | suppressed."""

    __tablename__ = "reach_outbox"
    __table_args__ = (Index("ix_reach_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    campaign: Mapped[str] = mapped_column(String(128), index=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[str | None] = mapped_column(String(64), index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactRow(Base):
    """One thing that happened in reaching a customer; never updated or deleted.

    ``kind``: enqueued | suppressed | attempt | sent | failed | dead | delivered | opened |
    clicked | replied | unsubscribed | outcome.
    """

    __tablename__ = "reach_contacts"
    __table_args__ = (Index("ix_reach_contacts_campaign_at", "campaign", "at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    campaign: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    message_key: Mapped[str | None] = mapped_column(String(200), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentOverride(Base):
    """A customer's latest consent on a channel (``*`` = every channel), set by them."""

    __tablename__ = "reach_consent"

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboxRow(Base):
    """An in-app message (站内信) in one customer's inbox."""

    __tablename__ = "reach_inbox"
    __table_args__ = (Index("ix_reach_inbox_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    campaign: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(4000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskRow(Base):
    """An outbound call (外呼) or RM task (客户经理任务) for one customer.

    Assigned to the customer's RM when they have one, else to the branch queue
    (``org_path`` of the customer's home org); scope follows ``org_path``.
    """

    __tablename__ = "reach_tasks"
    __table_args__ = (Index("ix_reach_tasks_org_status", "org_path", "status"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # call | rm
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    campaign: Mapped[str] = mapped_column(String(128), index=True)
    org_path: Mapped[str] = mapped_column(String(512))
    rm_id: Mapped[str | None] = mapped_column(String(32), index=True)
    script: Mapped[str] = mapped_column(String(4000))
    status: Mapped[str] = mapped_column(String(16))  # open | done
    outcome: Mapped[str | None] = mapped_column(String(16))  # reached | interested | declined
    note: Mapped[str | None] = mapped_column(String(1000))
    done_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlotContentRow(Base):
    """Content for an app resource slot (资源位), optionally for listed customers only."""

    __tablename__ = "reach_slot_contents"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    slot: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(Integer)
    customer_ids: Mapped[list[int] | None] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    # An activity's banner: shown only while the activity runs; with hide_participants,
    # no longer to a customer once they took part (opsloop.reach.slots).
    activity_id: Mapped[str | None] = mapped_column(String(64), index=True)
    hide_participants: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SlotAssignmentRow(Base):
    """Slot content a journey's node chose for one customer (the ``slot`` channel).

    Keyed by the outbox key, so a re-sent message lands once. Shown while the journey
    runs and until the customer exits it (``strategy_states``), within its window.
    """

    __tablename__ = "reach_slot_assignments"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    slot: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    journey_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    visit: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TemplateRow(Base):
    """A validated message template; a save is a new version."""

    __tablename__ = "reach_templates"

    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShortLinkRow(Base):
    """``/r/{token}`` → ``url``, for one customer and message (a click is recorded)."""

    __tablename__ = "reach_links"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    campaign: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    message_key: Mapped[str | None] = mapped_column(String(200))
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
