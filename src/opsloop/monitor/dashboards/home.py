"""The home dashboard's figures (首页), computed in the caller's data scope.

MAU and AUM come from the KPI analyses (already scoped); customer counts are one scoped
aggregate over ``customers``; journey and activity counts are bank-level operational
state (not customer data), counted by status. The API caches the result per scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.activity.models import ActivityRow
from opsloop.insight.segments.service import data_as_of
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.store import Store
from opsloop.strategy.models import JourneyRow
from opsloop.warehouse import Warehouse


class MonthValue(BaseModel):
    period: str
    value: float
    change: float | None = None
    change_pct: float | None = None


class Dashboard(BaseModel):
    as_of: dt.date
    customers: int
    new_customers: int
    active_customers: int
    inactive_customers: int
    mau: list[MonthValue]
    aum: list[MonthValue]
    running_journeys: int
    running_activities: int


def _kpi(wh: Warehouse, principal: Principal, doc: dict[str, Any], ds: str | None) -> Any:
    return run_analysis(
        wh=wh, doc=validate_analysis({"analysis": doc}), principal=principal, dataset=ds
    )


def _month_start(day: dt.date, back: int) -> dt.date:
    months = day.year * 12 + day.month - 1 - back
    return dt.date(months // 12, months % 12 + 1, 1)


def home_dashboard(
    wh: Warehouse, store: Store, principal: Principal, dataset: str | None, months: int
) -> Dashboard:
    """MAU and AUM by month, customer counts for the latest month, running work."""
    as_of = data_as_of(wh=wh, dataset=dataset)
    start, month = _month_start(as_of, months - 1), _month_start(as_of, 0)
    window = {"interval": "month", "start": start.isoformat(), "end": as_of.isoformat()}
    mau = _kpi(wh, principal, {"kind": "kpi", "metric": "mau", **window}, dataset)["rows"]
    aum = _kpi(wh, principal, {"kind": "kpi", "metric": "aum", **window}, dataset)["rows"]
    c = scoped_customers(wh.table("customers", dataset=dataset), principal)
    counts = c.aggregate(
        n=c.count(),
        new=(c.opened_on >= month).cast("int64").sum(),
        inactive=(~c.is_active).cast("int64").sum(),
    )
    row = wh.execute(counts).to_pylist()[0]
    with store.session() as s:
        journeys = s.scalar(
            select(func.count()).select_from(JourneyRow).where(JourneyRow.status == "running")
        )
        activities = s.scalar(
            select(func.count()).select_from(ActivityRow).where(ActivityRow.status == "running")
        )
    latest = [r for r in mau if str(r["period"]) >= month.isoformat()]
    return Dashboard(
        as_of=as_of,
        customers=int(row["n"] or 0),
        new_customers=int(row["new"] or 0),
        active_customers=int(latest[-1]["active"]) if latest else 0,
        inactive_customers=int(row["inactive"] or 0),
        mau=[MonthValue(period=str(r["period"]), value=float(r["active"])) for r in mau],
        aum=[
            MonthValue(
                period=str(r["period"]),
                value=float(r["aum"] or 0.0),
                change=r["change"],
                change_pct=r["change_pct"],
            )
            for r in aum
        ],
        running_journeys=int(journeys or 0),
        running_activities=int(activities or 0),
    )
