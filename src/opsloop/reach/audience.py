"""A template sent to a segment: rendered per customer, enqueued once per customer.

Set-wise where it matters: the segment (compiled by the Insight center, the caller's
data scope inside the query) and every column the template may use come back in **one**
warehouse query; consent overrides are read in one pass; outbox rows and contact
history are bulk-inserted. Only the Jinja2 rendering is a Python loop (a template is
per customer by nature).

Keys are ``c:{campaign}:{channel}:{customer}`` — a rerun of the same campaign enqueues
nobody twice. Customers the contact rules exclude are not enqueued; each gets a
``suppressed`` contact row with the reason (``no_consent``, ``dnd`` — the contact
policy's codes, from :func:`opsloop.strategy.policy.eligible` — ``unsubscribed`` from a
consent override, or ``no_address`` for an e-mail without one), once per campaign.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from opsloop.access import audit
from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer
from opsloop.insight.segments.compiler import compile_members
from opsloop.insight.segments.model import SegmentDefinition
from opsloop.insight.segments.service import WarehouseTables
from opsloop.reach import consent, outbox, service, templates
from opsloop.reach.models import ContactRow, ShortLinkRow
from opsloop.store import Store
from opsloop.strategy.policy import eligible
from opsloop.warehouse import Warehouse

# the warehouse consent column of each marketing channel (inbox and RM tasks have none)
CONSENT_COLUMN = {
    "sms": "consent_sms",
    "push": "consent_push",
    "email": "consent_email",
    "wechat": "consent_wechat",
    "call": "consent_call",
}
PII = ("name", "phone", "email", "id_number")


@dataclass
class AudienceRun:
    """What a send to a segment did; ``suppressed`` counts by reason."""

    campaign: str
    template_id: str
    channel: str
    matched: int = 0
    enqueued: int = 0
    already: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)


def _key(campaign: str, channel: str, customer_id: int) -> str:
    return f"c:{campaign}:{channel}:{customer_id}"


def _members(
    wh: Warehouse, principal: Principal, segment: SegmentDefinition, as_of: dt.date
) -> list[dict[str, Any]]:
    """The segment's customers with every canonical column, masked PII renamed."""
    t = compile_members(
        segment, wh_tables=WarehouseTables(wh, None), as_of=as_of, principal=principal
    )
    t = t.mutate(**{f: t[f"{f}_masked"] for f in PII})
    return list(wh.execute(t).to_pylist())


def _emails(
    wh: Warehouse, principal: Principal, ids: list[int], cipher: PiiCipher
) -> dict[int, str | None]:
    """Clear e-mail addresses of ``ids`` (one scoped query); only for delivery, never shown."""
    pii = scoped_by_customer(wh.table("customer_pii"), wh.table("customers"), principal)
    pii = pii.filter(pii.customer_id.isin(ids)).select("customer_id", "email_enc")
    return {
        int(r["customer_id"]): cipher.decrypt("email", r["email_enc"])
        for r in wh.execute(pii).to_pylist()
    }


def send_to_segment(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    template_id: str,
    segment: SegmentDefinition,
    campaign: str,
    now: dt.datetime,
    as_of: dt.date | None = None,
    link_base: str = "https://bank.example",
    cipher: PiiCipher | None = None,
    marketing: bool = True,
) -> AudienceRun:
    """Render ``template_id`` for every customer of ``segment`` in scope and enqueue it."""
    t = service.get_template(store, template_id=template_id)
    channel = t.channel
    run = AudienceRun(campaign, template_id, channel)
    rows = _members(wh, principal, segment, as_of or now.date())
    run.matched = len(rows)
    if not rows:
        return run
    ids = [int(r["customer_id"]) for r in rows]
    column = CONSENT_COLUMN.get(channel)
    allowed = np.array([bool(r[column]) for r in rows]) if column else np.ones(len(rows), bool)
    dnd = np.array([bool(r["dnd"]) for r in rows]) if column else np.zeros(len(rows), bool)
    reasons = eligible(marketing=marketing, consent=allowed, dnd=dnd)
    with store.session() as s:
        blocked = consent.blocked(s, {(c, channel) for c in ids})
    emails = _emails(wh, principal, ids, cipher) if channel == "email" and cipher else {}
    why: dict[int, str] = {}
    messages: list[outbox.Message] = []
    links: list[ShortLinkRow] = []  # tracked links made while rendering, inserted at once
    for row, reason in zip(rows, reasons, strict=True):
        cid = int(row["customer_id"])
        key = _key(campaign, channel, cid)
        if reason:
            why[cid] = str(reason)
            continue
        if (cid, channel) in blocked:
            why[cid] = "unsubscribed"
            continue
        to = emails.get(cid) if channel == "email" else None
        if channel == "email" and not to:
            why[cid] = "no_address"
            continue

        def short(url: str, cid: int = cid, key: str = key) -> str:
            token = secrets.token_urlsafe(16)  # 128 random bits, as service.create_link
            links.append(
                ShortLinkRow(
                    token=token,
                    url=url,
                    customer_id=cid,
                    campaign=campaign,
                    channel=channel,
                    message_key=key,
                    clicks=0,
                    created_at=now,
                )
            )
            return f"{link_base}/r/{token}"

        unsubscribe = short(service.UNSUBSCRIBE) if channel == "email" else None
        r = templates.render(
            t, templates.context_for(row, unsubscribe_url=unsubscribe, short=short)
        )
        payload: dict[str, object] = {"template": template_id, "text": r.text}
        if r.subject is not None:
            payload["subject"] = r.subject
        if r.html is not None:
            payload["html"] = r.html
        if channel == "inbox":
            payload |= {"title": r.subject or campaign, "body": r.text}
        if channel in ("call", "rm"):
            payload |= {"org_path": row["org_path"], "rm_id": row["rm_id"], "script": r.text}
        if to:
            payload |= {"to": to, "unsubscribe_url": unsubscribe or ""}
        messages.append(outbox.Message(key, channel, cid, campaign, payload))
    with store.session() as s:
        new = set(outbox.enqueue(s, messages, now=now))
        s.add_all(link for link in links if link.message_key in new)  # none for a rerun
        seen = (
            set(
                s.scalars(
                    select(ContactRow.customer_id).where(
                        ContactRow.campaign == campaign,
                        ContactRow.channel == channel,
                        ContactRow.kind == "suppressed",
                        ContactRow.customer_id.in_(list(why)),
                    )
                )
            )
            if why
            else set()
        )
        s.add_all(
            ContactRow(
                customer_id=cid,
                campaign=campaign,
                channel=channel,
                kind="suppressed",
                message_key=_key(campaign, channel, cid),
                reason=reason,
                at=now,
            )
            for cid, reason in why.items()
            if cid not in seen
        )
        s.add_all(
            ContactRow(
                customer_id=m.customer_id,
                campaign=campaign,
                channel=channel,
                kind="enqueued",
                message_key=m.key,
                at=now,
            )
            for m in messages
            if m.key in new
        )
        run.enqueued, run.already = len(new), len(messages) - len(new)
        run.suppressed = dict(Counter(why.values()))
        audit.record(
            s,
            actor=principal,
            action="reach.campaign.send",
            target_type="campaign",
            target_id=campaign,
            after={
                "template": template_id,
                "segment": segment.id or segment.name,
                "matched": run.matched,
                "enqueued": run.enqueued,
                "suppressed": run.suppressed,
            },
        )
    return run
