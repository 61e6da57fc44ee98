"""Reach services the API and CLI call: keyword-only, audited writes, scoped reads.

Reads that touch customers go through the caller's data scope: warehouse lookups via
:func:`opsloop.access.scope.scoped_customers`, and task lists by their denormalised
``org_path``/``rm_id`` (the same rule, evaluated in the operational store).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from opsloop.access import audit
from opsloop.access.clock import as_utc
from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.activity.models import ActivityRow
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.insight import customers as insight_customers
from opsloop.reach import consent, outbox, templates
from opsloop.reach.events import event_items
from opsloop.reach.models import (
    ContactRow,
    InboxRow,
    OutboxRow,
    ShortLinkRow,
    SlotContentRow,
    TaskRow,
    TemplateRow,
)
from opsloop.reach.templates import TemplateDef
from opsloop.store import Store
from opsloop.warehouse import Warehouse

UNSUBSCRIBE = "opsloop:unsubscribe"
Items = list[tuple[str, bytes]]


def in_scope(wh: Warehouse, principal: Principal, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` the caller may see (one scoped warehouse query)."""
    if not ids:
        return set()
    t = scoped_customers(wh.table("customers"), principal)
    t = t.filter(t.customer_id.isin(list(set(ids)))).select("customer_id")
    return {int(v) for v in wh.execute(t).column(0).to_pylist()}


def _need_scope(wh: Warehouse, principal: Principal, customer_id: int) -> None:
    if customer_id not in in_scope(wh, principal, [customer_id]):
        raise NotFoundError(f"no customer {customer_id}", where="customer_id")


# -- templates -----------------------------------------------------------------------------


def save_template(
    store: Store, *, principal: Principal, definition: TemplateDef, now: datetime
) -> dict[str, Any]:
    """Validate (render against the sample customer) and store as the next version."""
    rendered = templates.validate(definition)
    with store.session() as s:
        last = s.scalar(
            select(func.max(TemplateRow.version)).where(
                TemplateRow.template_id == definition.template_id
            )
        )
        version = (last or 0) + 1
        s.add(
            TemplateRow(
                template_id=definition.template_id,
                version=version,
                definition=definition.model_dump(),
                created_by=principal.id,
                created_at=now,
            )
        )
        audit.record(
            s,
            actor=principal,
            action="reach.template.save",
            target_type="template",
            target_id=f"{definition.template_id}@{version}",
            after=definition.model_dump(),
        )
    return {"template_id": definition.template_id, "version": version} | _describe(
        definition, rendered
    )


def _describe(t: TemplateDef, r: templates.Rendered) -> dict[str, Any]:
    out: dict[str, Any] = {"subject": r.subject, "text": r.text, "html": r.html}
    if t.channel == "sms":
        n = templates.sms_length(r.text)
        out["sms"] = {"encoding": n.encoding, "units": n.units, "segments": n.segments}
    return out


def get_template(store: Store, *, template_id: str) -> TemplateDef:
    with store.session() as s:
        row = s.scalars(
            select(TemplateRow)
            .where(TemplateRow.template_id == template_id)
            .order_by(TemplateRow.version.desc())
            .limit(1)
        ).first()
    if row is None:
        raise NotFoundError(f"no template {template_id!r}", where="template_id")
    return TemplateDef.model_validate(row.definition)


def preview(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    template_id: str,
    customer_id: int,
    cipher: PiiCipher | None,
    ip: str | None = None,
    definition: TemplateDef | None = None,
) -> dict[str, Any]:
    """Render with a real customer in scope; PII masked unless the caller has pii:view.

    With ``definition``, an unsaved draft is rendered instead (the editor's live preview).
    """
    t = definition or get_template(store, template_id=template_id)
    reveal = principal.can("pii:view") and cipher is not None
    row = insight_customers.get_customer(
        wh=wh,
        store=store,
        principal=principal,
        customer_id=customer_id,
        reveal=reveal,
        cipher=cipher,
        ip=ip,
    )
    ctx = templates.context_for(
        row, unsubscribe_url="https://bank.example/r/preview", short=lambda url: url
    )
    return {"template_id": template_id, "masked": not reveal} | _describe(
        t, templates.render(t, ctx)
    )


# -- short links, clicks, unsubscribes -----------------------------------------------------


def create_link(
    store: Store,
    *,
    url: str,
    customer_id: int,
    campaign: str,
    channel: str,
    message_key: str | None,
    now: datetime,
) -> str:
    """A new unguessable token (128 random bits) for ``/r/{token}``."""
    if url != UNSUBSCRIBE and not url.startswith(("https://", "http://")):
        raise InvalidInputError("a link must be an http(s) URL", where="url")
    token = secrets.token_urlsafe(16)
    with store.session() as s:
        s.add(
            ShortLinkRow(
                token=token,
                url=url,
                customer_id=customer_id,
                campaign=campaign,
                channel=channel,
                message_key=message_key,
                clicks=0,
                created_at=now,
            )
        )
    return token


def follow_link(store: Store, *, token: str, now: datetime) -> tuple[str, Items]:
    """Count a click (or act on an unsubscribe); returns the target and the event."""
    with store.session() as s:
        link = s.get(ShortLinkRow, token)
        if link is None:
            raise NotFoundError("unknown link", where="token")
        n = link.clicks + 1
        s.execute(
            update(ShortLinkRow)
            .where(ShortLinkRow.token == token)
            .values(clicks=ShortLinkRow.clicks + 1)
        )
        kind = "unsubscribed" if link.url == UNSUBSCRIBE else "clicked"
        if kind == "unsubscribed":
            consent.set_consent(
                s,
                customer_id=link.customer_id,
                channel=link.channel,
                allowed=False,
                source=f"link:{link.campaign}",
                now=now,
            )
        s.add(
            ContactRow(
                customer_id=link.customer_id,
                campaign=link.campaign,
                channel=link.channel,
                kind=kind,
                message_key=link.message_key,
                at=now,
            )
        )
        url, cid, campaign, channel = link.url, link.customer_id, link.campaign, link.channel
        key = link.message_key
    items = event_items(
        kind=kind,
        customer_id=cid,
        message_id=f"reach:{kind}:{token}:{n}",
        properties={"campaign": campaign, "channel": channel, "url": url, "message_key": key},
        now=now,
    )
    return url, items


# -- delivery receipts ---------------------------------------------------------------------


class Receipt(BaseModel):
    """One status report from a gateway about a message it was sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200, description="the outbox key we sent")
    status: Literal["delivered", "opened", "clicked", "replied", "unsubscribed", "failed"]
    detail: str | None = Field(default=None, max_length=500)


def record_receipts(
    store: Store, *, channel: str, receipts: Sequence[Receipt], now: datetime
) -> tuple[int, Items]:
    """Contacts (and consent for unsubscribes) for known messages; events to append."""
    items: Items = []
    recorded = 0
    with store.session() as s:
        keys = [r.id for r in receipts]
        rows = {
            r.key: r
            for r in s.scalars(
                select(OutboxRow).where(OutboxRow.key.in_(keys), OutboxRow.channel == channel)
            )
        }
        for i, r in enumerate(receipts):
            row = rows.get(r.id)
            if row is None:
                continue
            recorded += 1
            s.add(
                ContactRow(
                    customer_id=row.customer_id,
                    campaign=row.campaign,
                    channel=row.channel,
                    kind=r.status,
                    message_key=row.key,
                    reason=r.detail,
                    at=now,
                )
            )
            if r.status == "unsubscribed":
                consent.set_consent(
                    s,
                    customer_id=row.customer_id,
                    channel=row.channel,
                    allowed=False,
                    source=f"receipt:{channel}",
                    now=now,
                )
            items += event_items(
                kind=r.status,
                customer_id=row.customer_id,
                message_id=f"reach:{r.status}:{row.key}",
                properties={
                    "campaign": row.campaign,
                    "channel": row.channel,
                    "message_key": row.key,
                    "index": i,
                },
                now=now,
            )
    return recorded, items


# -- contact history -----------------------------------------------------------------------


def contacts(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    customer_id: int | None = None,
    campaign: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Contact history of one customer or one campaign, limited to the caller's scope."""
    if (customer_id is None) == (campaign is None):
        raise InvalidInputError("give exactly one of customer_id or campaign", where="query")
    q = select(ContactRow).order_by(ContactRow.at.desc(), ContactRow.id.desc()).limit(limit)
    if customer_id is not None:
        _need_scope(wh, principal, customer_id)
        q = q.where(ContactRow.customer_id == customer_id)
    else:
        q = q.where(ContactRow.campaign == campaign)
    with store.session() as s:
        rows = list(s.scalars(q))
    allowed = in_scope(wh, principal, [r.customer_id for r in rows])
    return [
        {
            "customer_id": r.customer_id,
            "campaign": r.campaign,
            "channel": r.channel,
            "kind": r.kind,
            "message_key": r.message_key,
            "reason": r.reason,
            "at": as_utc(r.at),
        }
        for r in rows
        if r.customer_id in allowed
    ]


# -- in-app inbox ----------------------------------------------------------------------------


def inbox(
    store: Store, wh: Warehouse, *, principal: Principal, customer_id: int, limit: int = 50
) -> list[dict[str, Any]]:
    _need_scope(wh, principal, customer_id)
    with store.session() as s:
        rows = s.scalars(
            select(InboxRow)
            .where(InboxRow.customer_id == customer_id)
            .order_by(InboxRow.created_at.desc(), InboxRow.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "id": r.id,
            "title": r.title,
            "body": r.body,
            "campaign": r.campaign,
            "created_at": as_utc(r.created_at),
            "read": r.read_at is not None,
        }
        for r in rows
    ]


def mark_read(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    customer_id: int,
    message_id: int,
    now: datetime,
) -> None:
    _need_scope(wh, principal, customer_id)
    with store.session() as s:
        row = s.get(InboxRow, message_id)
        if row is None or row.customer_id != customer_id:
            raise NotFoundError(f"no inbox message {message_id}", where="message_id")
        if row.read_at is None:
            row.read_at = now
            s.add(
                ContactRow(
                    customer_id=customer_id,
                    campaign=row.campaign,
                    channel="inbox",
                    kind="opened",
                    message_key=row.message_key,
                    at=now,
                )
            )


# -- call lists and RM tasks -----------------------------------------------------------------


def enqueue_tasks(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    kind: Literal["call", "rm"],
    campaign: str,
    customer_ids: Sequence[int],
    script: str,
    now: datetime,
) -> int:
    """Queue tasks for customers in scope: to their RM, else their branch's queue."""
    t = scoped_customers(wh.table("customers"), principal)
    t = t.filter(t.customer_id.isin(list(set(customer_ids)))).select(
        "customer_id", "org_path", "rm_id"
    )
    found = wh.execute(t).to_pylist()
    msgs = [
        outbox.Message(
            f"t:{kind}:{campaign}:{c['customer_id']}",
            kind,
            int(c["customer_id"]),
            campaign,
            {"org_path": c["org_path"], "rm_id": c["rm_id"], "script": script},
        )
        for c in found
    ]
    with store.session() as s:
        new = outbox.enqueue(s, msgs, now=now)
        audit.record(
            s,
            actor=principal,
            action=f"reach.tasks.{kind}",
            target_type="campaign",
            target_id=campaign,
            after={"queued": len(new), "asked": len(customer_ids)},
        )
    return len(new)


def _task_scope(principal: Principal) -> list[Any]:
    conds: list[Any] = [TaskRow.org_path.startswith(principal.org_path)]
    if principal.own_customers_only:
        conds.append(TaskRow.rm_id == principal.rm_id)
    return conds


def list_tasks(
    store: Store,
    *,
    principal: Principal,
    campaign: str | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    q = select(TaskRow).where(*_task_scope(principal)).order_by(TaskRow.id).limit(limit)
    if campaign is not None:
        q = q.where(TaskRow.campaign == campaign)
    if status is not None:
        q = q.where(TaskRow.status == status)
    with store.session() as s:
        rows = s.scalars(q).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "customer_id": r.customer_id,
            "campaign": r.campaign,
            "queue": r.rm_id or r.org_path,
            "rm_id": r.rm_id,
            "org_path": r.org_path,
            "script": r.script,
            "status": r.status,
            "outcome": r.outcome,
            "note": r.note,
        }
        for r in rows
    ]


def export_tasks(
    store: Store, *, principal: Principal, campaign: str | None, ip: str | None
) -> list[dict[str, Any]]:
    """The task list for download (audited, like every export)."""
    rows = list_tasks(store, principal=principal, campaign=campaign, limit=100_000)
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="reach.tasks.export",
            target_type="campaign",
            target_id=campaign or "*",
            ip=ip,
            after={"rows": len(rows)},
        )
    return rows


def record_outcome(
    store: Store,
    *,
    principal: Principal,
    task_id: int,
    outcome: Literal["reached", "interested", "declined", "unreachable"],
    note: str | None,
    now: datetime,
    ip: str | None = None,
) -> None:
    with store.session() as s:
        row = s.scalars(
            select(TaskRow).where(TaskRow.id == task_id, *_task_scope(principal))
        ).first()
        if row is None:
            raise NotFoundError(f"no task {task_id}", where="task_id")
        before = {"status": row.status, "outcome": row.outcome}
        row.status, row.outcome, row.note = "done", outcome, note
        row.done_by, row.done_at = principal.id, now
        s.add(
            ContactRow(
                customer_id=row.customer_id,
                campaign=row.campaign,
                channel=row.kind,
                kind="outcome",
                message_key=row.message_key,
                reason=outcome,
                at=now,
            )
        )
        audit.record(
            s,
            actor=principal,
            action="reach.task.outcome",
            target_type="task",
            target_id=str(task_id),
            ip=ip,
            before=before,
            after={"outcome": outcome},
        )


# -- resource slot contents ------------------------------------------------------------------


class SlotContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slot: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    link: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    priority: int = Field(default=0, ge=-1000, le=1000)
    customer_ids: list[int] | None = Field(default=None, max_length=100_000)
    starts_at: datetime
    ends_at: datetime
    activity_id: str | None = Field(
        default=None,
        max_length=64,
        description="an activity's banner: shown only while the activity runs",
    )
    hide_participants: bool = Field(
        default=False, description="with activity_id: not shown to customers who took part"
    )


def add_slot_content(
    store: Store, *, principal: Principal, body: SlotContentIn, now: datetime
) -> int:
    if body.ends_at <= body.starts_at:
        raise InvalidInputError("ends_at must be after starts_at", where="ends_at")
    if body.hide_participants and body.activity_id is None:
        raise InvalidInputError("hide_participants needs an activity_id", where="hide_participants")
    with store.session() as s:
        if body.activity_id is not None and s.get(ActivityRow, body.activity_id) is None:
            raise NotFoundError(f"no activity {body.activity_id!r}", where="activity_id")
        row = SlotContentRow(**body.model_dump(), created_by=principal.id)
        s.add(row)
        s.flush()
        audit.record(
            s,
            actor=principal,
            action="reach.slot.add",
            target_type="slot",
            target_id=f"{body.slot}#{row.id}",
            after=body.model_dump(exclude={"customer_ids"})
            | {"customers": len(body.customer_ids or [])},
        )
        return row.id
