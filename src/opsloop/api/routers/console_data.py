"""Read-only data the web console's pages need and no other route gives in one call.

Thin routes over the centers' own functions (the queries live in ``insight`` and
``reach``), each in the caller's data scope (辖内) with
PII masked: the lifecycle / AUM-tier flow between two months (the Sankey), the churn
and high-potential lists read from the scores `opsloop model train` writes, and the
Reach channels as configured (never their secrets) with their recent send counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from opsloop.access.clock import utcnow
from opsloop.access.principal import Principal
from opsloop.access.scope import require_bank_wide
from opsloop.api.deps import StoreDep, WarehouseDep, require
from opsloop.errors import InvalidInputError
from opsloop.insight import lifecycle
from opsloop.insight.customers import masked_by_id
from opsloop.insight.models import high_potential
from opsloop.insight.segments.service import data_as_of
from opsloop.reach import overview
from opsloop.reach.config import ReachConfig

router = APIRouter(prefix="/console", tags=["console"])
Analyst = Annotated[Principal, require("analysis:read")]
CustomerReader = Annotated[Principal, require("customer:read")]
ReachManager = Annotated[Principal, require("reach:manage")]
Dataset = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Month = Annotated[
    dt.date | None,
    Query(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31), description="any day of the month"),
]


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
    ids = [r["customer_id"] for r in rows]
    people = masked_by_id(wh=wh, principal=principal, ids=ids, dataset=dataset)
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
    since = utcnow() - dt.timedelta(hours=hours)
    rows = overview.channel_activity(store, config, since=since)
    return Channels(
        configured=config is not None,
        window_hours=hours,
        channels=[ChannelInfo(**dataclasses.asdict(r)) for r in rows],
    )
