"""Read-only data the web console's pages need and no other route gives in one call.

Thin routes over the centers' own functions, each in the caller's data scope (辖内) with
PII masked: the lifecycle / AUM-tier flow between two months (the Sankey), the churn
and high-potential lists read from the scores `opsloop model train` writes, and the
Reach channels as configured (never their secrets) with their recent send counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsloop.access.clock import utcnow
from opsloop.access.principal import Principal
from opsloop.access.scope import require_bank_wide, scoped_customers
from opsloop.api.deps import StoreDep, WarehouseDep, require
from opsloop.errors import InvalidInputError
from opsloop.insight import lifecycle
from opsloop.insight.models import high_potential
from opsloop.insight.segments.service import data_as_of
from opsloop.reach.config import ReachConfig, SmtpConfig, WebhookConfig
from opsloop.reach.models import ContactRow, OutboxRow
from opsloop.warehouse import Warehouse

router = APIRouter(prefix="/console", tags=["console"])
Analyst = Annotated[Principal, require("analysis:read")]
CustomerReader = Annotated[Principal, require("customer:read")]
ReachManager = Annotated[Principal, require("reach:manage")]
Dataset = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Month = Annotated[
    dt.date | None,
    Query(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31), description="any day of the month"),
]
MASKED = ("name", "phone")


class FlowLink(BaseModel):
    source: str
    target: str
    customers: int


class Flow(BaseModel):
    by: Literal["stage", "tier"]
    from_month: dt.date
    to_month: dt.date
    links: list[FlowLink]


@router.get("/lifecycle-flow")
def lifecycle_flow(
    wh: WarehouseDep,
    principal: Analyst,
    by: Literal["stage", "tier"] = "stage",
    from_month: Month = None,
    to_month: Month = None,
    dataset: Dataset = None,
) -> Flow:
    """Customers by (from, to) lifecycle stage or AUM tier, month over month.

    ``to_month`` defaults to the month of the latest transaction, ``from_month`` to the
    month before it; a customer present in one month only flows from/to ``absent``.
    """
    end = lifecycle.month_end(to_month or data_as_of(wh=wh, dataset=dataset))
    start = lifecycle.month_end(from_month or (end.replace(day=1) - dt.timedelta(days=1)))
    if start >= end:
        raise InvalidInputError("from_month must be before to_month", where="from_month")
    rows = lifecycle.flow(
        wh=wh, from_month=start, to_month=end, by=by, principal=principal, dataset=dataset
    )
    links = [FlowLink(source=r["from"], target=r["to"], customers=r["customers"]) for r in rows]
    return Flow(by=by, from_month=start, to_month=end, links=links)


class ScoredCustomer(BaseModel):
    customer_id: int
    org_id: str | None
    rm_id: str | None
    name: str | None
    phone: str | None
    score: float
    band: str
    scored_at: dt.datetime
    reasons: list[dict[str, Any]]


@router.get("/scored-customers")
def scored_customers(
    wh: WarehouseDep,
    principal: CustomerReader,
    _analyst: Analyst,
    model: Literal["churn", "propensity"] = "churn",
    k: Annotated[int, Query(ge=1, le=200)] = 50,
    dataset: Dataset = None,
) -> list[ScoredCustomer]:
    """The caller's top-``k`` customers by ``model``'s score (流失预警 / 高潜客户), PII masked."""
    rows = high_potential(wh=wh, principal=principal, model=model, k=k, dataset=dataset)
    people = _masked_by_id(wh, principal, [r["customer_id"] for r in rows], dataset)
    return [
        ScoredCustomer(
            customer_id=r["customer_id"],
            **people[r["customer_id"]],
            score=r["score"],
            band=r["band"],
            scored_at=r["scored_at"],
            reasons=r["reasons"],
        )
        for r in rows
        if r["customer_id"] in people  # scored, then left the scope: not shown
    ]


def _masked_by_id(
    wh: Warehouse, principal: Principal, ids: list[int], dataset: str | None
) -> dict[int, dict[str, Any]]:
    """Org, RM and the *masked* name and phone of the given customers in scope — one
    scoped query for the whole list (never the clear PII of ``customer_pii``)."""
    if not ids:
        return {}
    t = scoped_customers(wh.table("customers", dataset=dataset), principal)
    t = t.filter(t.customer_id.isin(ids)).select(
        "customer_id", "org_id", "rm_id", **{f: t[f"{f}_masked"] for f in MASKED}
    )
    return {r.pop("customer_id"): r for r in wh.execute(t).to_pylist()}


class ChannelInfo(BaseModel):
    name: str
    kind: str
    target: str | None  # webhook host or SMTP host:port — never a URL path, user or secret
    rate_per_s: float | None
    burst: int | None
    cost: float | None
    outbox: dict[str, int]  # messages by status now
    contacts: dict[str, int]  # contact-history rows of the window by kind


class Channels(BaseModel):
    configured: bool
    window_hours: int
    channels: list[ChannelInfo]


def _target(c: object) -> str | None:
    if isinstance(c, WebhookConfig):
        return c.url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    if isinstance(c, SmtpConfig):
        return f"{c.host}:{c.port}"
    return None


def _counts(s: Session, hours: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Outbox messages by (channel, status) and recent contacts by (channel, kind)."""
    since = utcnow() - dt.timedelta(hours=hours)
    outbox: dict[str, dict[str, int]] = {}
    for ch, st, n in s.execute(
        select(OutboxRow.channel, OutboxRow.status, func.count()).group_by(
            OutboxRow.channel, OutboxRow.status
        )
    ):
        outbox.setdefault(ch, {})[st] = int(n)
    contacts: dict[str, dict[str, int]] = {}
    for ch, kind, n in s.execute(
        select(ContactRow.channel, ContactRow.kind, func.count())
        .where(ContactRow.at >= since)
        .group_by(ContactRow.channel, ContactRow.kind)
    ):
        contacts.setdefault(ch, {})[kind] = int(n)
    return outbox, contacts


@router.get("/channels")
def channels(
    request: Request,
    store: StoreDep,
    principal: ReachManager,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> Channels:
    """The channels of HOME/reach.json with rate limits and cost, and what each sent.

    Bank-wide callers only: the counts are over every customer's messages.
    """
    require_bank_wide(principal, what="channel send counts")
    config: ReachConfig | None = request.app.state.reach_config
    with store.session() as s:
        outbox, contacts = _counts(s, hours)
    names = sorted(set(config.channels if config else ()) | set(outbox) | set(contacts))
    out: list[ChannelInfo] = []
    for name in names:
        c = config.channels.get(name) if config else None
        out.append(
            ChannelInfo(
                name=name,
                kind=c.kind if c is not None else "unconfigured",
                target=_target(c),
                rate_per_s=getattr(c, "rate_per_s", None),
                burst=getattr(c, "burst", None),
                cost=getattr(c, "cost", None),
                outbox=outbox.get(name, {}),
                contacts=contacts.get(name, {}),
            )
        )
    return Channels(configured=config is not None, window_hours=hours, channels=out)
