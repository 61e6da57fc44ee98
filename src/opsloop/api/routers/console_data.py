"""Read-only data the web console's pages need and no other route gives in one call.

Thin routes over the centers' own functions, each in the caller's data scope (辖内) with
PII masked: the lifecycle / AUM-tier flow between two months (the Sankey), and the churn
and high-potential lists read from the scores `opsloop model train` writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from opsloop.access.principal import Principal
from opsloop.api.deps import StoreDep, WarehouseDep, require
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.insight import customers, lifecycle
from opsloop.insight.models import high_potential
from opsloop.insight.segments.service import data_as_of

router = APIRouter(prefix="/console", tags=["console"])
Analyst = Annotated[Principal, require("analysis:read")]
CustomerReader = Annotated[Principal, require("customer:read")]
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
    store: StoreDep,
    principal: CustomerReader,
    _analyst: Analyst,
    model: Literal["churn", "propensity"] = "churn",
    k: Annotated[int, Query(ge=1, le=200)] = 50,
    dataset: Dataset = None,
) -> list[ScoredCustomer]:
    """The caller's top-``k`` customers by ``model``'s score (流失预警 / 高潜客户), PII masked."""
    rows = high_potential(wh=wh, principal=principal, model=model, k=k, dataset=dataset)
    out: list[ScoredCustomer] = []
    for row in rows:
        try:
            c = customers.get_customer(
                wh=wh,
                store=store,
                principal=principal,
                customer_id=row["customer_id"],
                dataset=dataset,
            )
        except NotFoundError:  # scored, then left the scope: not shown
            continue
        out.append(
            ScoredCustomer(
                customer_id=row["customer_id"],
                org_id=c.get("org_id"),
                rm_id=c.get("rm_id"),
                **{f: c.get(f) for f in MASKED},
                score=row["score"],
                band=row["band"],
                scored_at=row["scored_at"],
                reasons=row["reasons"],
            )
        )
    return out
