"""Lifecycle layers (分层) and their flow between two months, and AUM tiers likewise.

A stage is decided per customer-month by ordered rules (first match wins) over
``aum_monthly`` and activity (events + transactions in the month): churned, new,
dormant, declining, growing, else mature. Thresholds are a frozen document, so a bank
can tune them. Everything is one Ibis expression per month; the flow is a join of two
months' stages, counted by (from, to) — the Sankey's links. A customer present in one
month only flows from/to ``absent``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer
from opsloop.warehouse import Warehouse

STAGES = ("new", "growing", "mature", "declining", "dormant", "churned")
AUM_TIERS = ((50_000.0, "<50k"), (500_000.0, "50k-500k"), (6_000_000.0, "500k-6M"))
TOP_TIER = ">6M"
ABSENT = "absent"


class StageRules(BaseModel):
    """Thresholds of the default stage model (all configurable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    churned_below_aum: float = Field(default=100.0, ge=0)
    new_within_days: int = Field(default=180, ge=0)
    dormant_max_activity: int = Field(default=0, ge=0)
    trend_months: int = Field(default=3, ge=1, le=24)
    declining_ratio: float = Field(default=0.8, gt=0)
    growing_ratio: float = Field(default=1.2, gt=0)


def month_end(day: dt.date) -> dt.date:
    nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def _back(month: dt.date, k: int) -> dt.date:
    y, m = month.year, month.month - k
    while m <= 0:
        y, m = y - 1, m + 12
    return month_end(dt.date(y, m, 1))


def stages(
    *,
    wh: Warehouse,
    month: dt.date,
    rules: StageRules = StageRules(),
    principal: Principal | None = None,
    dataset: str | None = None,
) -> ibis.Table:
    """(customer_id, stage, aum, tier) for every customer with a balance row in ``month``."""
    m = month_end(month)
    cust = wh.table("customers", dataset=dataset)
    aum = wh.table("aum_monthly", dataset=dataset)
    if principal is not None:
        aum = scoped_by_customer(aum, cust, principal)
    now = aum.filter(aum.month == m).select("customer_id", "aum")
    past = aum.filter(aum.month == _back(m, rules.trend_months)).select(
        cid_p="customer_id", aum_past="aum"
    )
    start = ibis.literal(dt.datetime.combine(m.replace(day=1), dt.time()), "timestamp")
    end = ibis.literal(dt.datetime.combine(m + dt.timedelta(days=1), dt.time()), "timestamp")

    def activity(name: str) -> ibis.Table:
        t = wh.table(name, dataset=dataset)
        t = t.filter(t.ts >= start, t.ts < end, t.customer_id.notnull())
        return t.group_by(cid=t.customer_id).aggregate(n=t.count())

    act = activity("events").union(activity("transactions"))
    act = act.group_by("cid").aggregate(n=act.n.sum())
    opened = cust.select(cid_o="customer_id", opened_on="opened_on")
    t = now.left_join(past, now.customer_id == past.cid_p)
    t = t.left_join(act, t.customer_id == act.cid)
    t = t.left_join(opened, t.customer_id == opened.cid_o)
    n = t.n.fill_null(0)
    ratio = t.aum / t.aum_past.nullif(0)
    tenure = ibis.literal(m, "date").delta(t.opened_on, unit="day")
    stage = ibis.cases(
        (t.aum < rules.churned_below_aum, "churned"),
        (tenure < rules.new_within_days, "new"),
        (n <= rules.dormant_max_activity, "dormant"),
        (ratio.fill_null(1.0) < rules.declining_ratio, "declining"),
        (ratio.fill_null(1.0) > rules.growing_ratio, "growing"),
        else_="mature",
    )
    return t.select("customer_id", "aum", stage=stage, tier=tier_of(t.aum))


def tier_of(aum: Any) -> Any:
    """The AUM tier label of a balance (<50k, 50k–500k, 500k–6M, >6M CNY)."""
    cases = [(aum < bound, label) for bound, label in AUM_TIERS]
    return ibis.cases(*cases, else_=TOP_TIER)


def flow(
    *,
    wh: Warehouse,
    from_month: dt.date,
    to_month: dt.date,
    by: str = "stage",
    rules: StageRules = StageRules(),
    principal: Principal | None = None,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """Counts of customers by (from, to) ``stage`` or ``tier`` between two months."""
    a = stages(wh=wh, month=from_month, rules=rules, principal=principal, dataset=dataset)
    b = stages(wh=wh, month=to_month, rules=rules, principal=principal, dataset=dataset)
    a = a.select(ca="customer_id", src=a[by])
    b = b.select(cb="customer_id", dst=b[by])
    j = a.outer_join(b, a.ca == b.cb)
    j = j.select(src=j.src.fill_null(ABSENT), dst=j.dst.fill_null(ABSENT))
    counts = j.group_by("src", "dst").aggregate(customers=j.count()).order_by("src", "dst")
    rows: list[dict[str, Any]] = wh.execute(counts).to_pylist()
    return [{"from": r["src"], "to": r["dst"], "customers": r["customers"]} for r in rows]
