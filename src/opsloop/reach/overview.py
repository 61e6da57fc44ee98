"""What the console shows of Reach: the template catalogue and each channel's activity.

Read-only queries over Reach's own tables. Channel targets are reduced to a host (never a
URL path, user or secret), and send counts cover every customer, so callers must be
bank-wide (the route checks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from opsloop.reach.config import ReachConfig, SmtpConfig, WebhookConfig
from opsloop.reach.models import ContactRow, OutboxRow, TemplateRow
from opsloop.store import Store


@dataclass(frozen=True)
class TemplateSummary:
    template_id: str
    version: int
    channel: str
    locale: str
    subject: str | None
    body: str
    created_by: str
    created_at: dt.datetime


def list_templates(store: Store, *, channel: str | None = None) -> list[TemplateSummary]:
    """The latest version of every template (by id), optionally of one channel."""
    latest = (
        select(TemplateRow.template_id, func.max(TemplateRow.version).label("v"))
        .group_by(TemplateRow.template_id)
        .subquery()
    )
    query = (
        select(TemplateRow)
        .join(
            latest,
            (TemplateRow.template_id == latest.c.template_id) & (TemplateRow.version == latest.c.v),
        )
        .order_by(TemplateRow.template_id)
    )
    with store.session() as s:
        rows = s.scalars(query).all()
        out = [
            TemplateSummary(
                template_id=r.template_id,
                version=r.version,
                channel=str(r.definition.get("channel")),
                locale=str(r.definition.get("locale", "zh")),
                subject=r.definition.get("subject"),  # type: ignore[arg-type]
                body=str(r.definition.get("body", "")),
                created_by=r.created_by,
                created_at=r.created_at,
            )
            for r in rows
        ]
    return [t for t in out if channel is None or t.channel == channel]


@dataclass(frozen=True)
class ChannelActivity:
    name: str
    kind: str
    target: str | None  # webhook host or SMTP host:port — never a URL path, user or secret
    rate_per_s: float | None
    burst: int | None
    cost: float | None
    outbox: dict[str, int] = field(default_factory=dict)  # messages by status now
    contacts: dict[str, int] = field(default_factory=dict)  # contacts of the window by kind


def target_of(c: object) -> str | None:
    """Where a channel sends, reduced to its host: no path, user or secret."""
    if isinstance(c, WebhookConfig):
        return c.url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    if isinstance(c, SmtpConfig):
        return f"{c.host}:{c.port}"
    return None


def channel_activity(
    store: Store, config: ReachConfig | None, *, since: dt.datetime
) -> list[ChannelActivity]:
    """Every configured channel (and any that sent without being configured any more):
    its limits and cost, outbox messages by status now, contacts since ``since`` by kind."""
    outbox: dict[str, dict[str, int]] = {}
    contacts: dict[str, dict[str, int]] = {}
    with store.session() as s:
        for ch, st, n in s.execute(
            select(OutboxRow.channel, OutboxRow.status, func.count()).group_by(
                OutboxRow.channel, OutboxRow.status
            )
        ):
            outbox.setdefault(ch, {})[st] = int(n)
        for ch, kind, n in s.execute(
            select(ContactRow.channel, ContactRow.kind, func.count())
            .where(ContactRow.at >= since)
            .group_by(ContactRow.channel, ContactRow.kind)
        ):
            contacts.setdefault(ch, {})[kind] = int(n)
    configured: dict[str, Any] = dict(config.channels) if config else {}
    out = []
    for name in sorted(set(configured) | set(outbox) | set(contacts)):
        c = configured.get(name)
        out.append(
            ChannelActivity(
                name=name,
                kind=c.kind if c is not None else "unconfigured",
                target=target_of(c),
                rate_per_s=getattr(c, "rate_per_s", None),
                burst=getattr(c, "burst", None),
                cost=getattr(c, "cost", None),
                outbox=outbox.get(name, {}),
                contacts=contacts.get(name, {}),
            )
        )
    return out
