"""Campaign evaluation (效益评估): incremental effect against the holdout, priced from the
ledgers.

The effect comes from one aggregate query over the campaign's exposure table (one row
per customer: arm, converted, AUM change, revenue), the cost from what was actually
spent: the Reach outbox's per-message cost for messages sent under the campaign, and the
Activity ledger's benefit value (redeemed by default — a coupon costs when it is used;
or issued net of revoked, the committed budget). Both ledgers are only read here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select

from opsloop.activity.models import LedgerEntry
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.monitor.experiments import Metric, aggregate_query, sums_by_arm
from opsloop.monitor.roi import campaign_roi, scale
from opsloop.monitor.stats.aggregates import Proportion, SampleMean
from opsloop.monitor.stats.frequentist import welch_ttest
from opsloop.reach.models import OutboxRow
from opsloop.store import Store
from opsloop.warehouse import Warehouse

BenefitBasis = Literal["redeemed", "issued"]


@dataclass(frozen=True, slots=True)
class Costs:
    """What a campaign spent, in currency units."""

    messages_sent: int
    contact_cost: float
    benefits_issued: float
    benefits_revoked: float
    benefits_redeemed: float
    fixed_cost: float
    basis: BenefitBasis

    @property
    def benefit_cost(self) -> float:
        if self.basis == "redeemed":
            return self.benefits_redeemed
        return self.benefits_issued - self.benefits_revoked

    @property
    def total(self) -> float:
        return self.fixed_cost + self.contact_cost + self.benefit_cost


def campaign_costs(
    *,
    store: Store,
    campaign: str,
    activity_id: str | None = None,
    basis: BenefitBasis = "redeemed",
    fixed_cost: float = 0.0,
) -> Costs:
    """Sent messages and their cost from ``reach_outbox``; benefit value from
    ``activity_ledger`` (cents → units) when the campaign gave benefits."""
    with store.session() as s:
        sent, cost = s.execute(
            select(func.count(), func.coalesce(func.sum(OutboxRow.cost), 0.0)).where(
                OutboxRow.campaign == campaign, OutboxRow.status == "sent"
            )
        ).one()
        cents: dict[str, int] = {}
        if activity_id is not None:
            rows = s.execute(
                select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.value_cents), 0))
                .where(LedgerEntry.activity_id == activity_id)
                .group_by(LedgerEntry.kind)
            ).all()
            cents = {str(k): int(v) for k, v in rows}
    return Costs(
        messages_sent=int(sent),
        contact_cost=float(cost),
        benefits_issued=cents.get("issue", 0) / 100,
        benefits_revoked=cents.get("revoke", 0) / 100,
        benefits_redeemed=cents.get("redeem", 0) / 100,
        fixed_cost=fixed_cost,
        basis=basis,
    )


def campaign_evaluation(
    *,
    wh: Warehouse,
    store: Store,
    table: str,
    campaign: str,
    treated: str,
    holdout: str,
    dataset: str | None = None,
    arm_column: str = "arm",
    conversion: str = "converted",
    aum: str | None = "aum_change",
    revenue: str = "revenue",
    activity_id: str | None = None,
    basis: BenefitBasis = "redeemed",
    fixed_cost: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Incremental conversions, AUM and revenue of ``treated`` over ``holdout`` (scaled
    to the treated count, with CIs), the campaign's costs, ROI on revenue and cost per
    incremental conversion."""
    if treated == holdout:
        raise InvalidInputError("treated and holdout must be different arms", where="holdout")
    metrics = [Metric(conversion, "proportion"), Metric(revenue)]
    if aum is not None:
        metrics.append(Metric(aum))
    expr = aggregate_query(wh.table(table, dataset=dataset), arm_column=arm_column, metrics=metrics)
    sums = sums_by_arm(wh.execute(expr))
    for arm, where in ((treated, "treated"), (holdout, "holdout")):
        if arm not in sums:
            raise NotFoundError(f"arm {arm!r} has no rows in {table!r}", where=where)
    t, h = sums[treated], sums[holdout]
    costs = campaign_costs(
        store=store, campaign=campaign, activity_id=activity_id, basis=basis, fixed_cost=fixed_cost
    )
    roi = campaign_roi(
        treated=Proportion(int(t["n"]), t["s0"]),
        holdout=Proportion(int(h["n"]), h["s0"]),
        treated_value=SampleMean(int(t["n"]), t["s1"], t["q1"]),
        holdout_value=SampleMean(int(h["n"]), h["s1"], h["q1"]),
        cost_per_contact=0.0,
        fixed_cost=costs.total,
        alpha=alpha,
    )
    out: dict[str, Any] = {
        "campaign": campaign,
        "treated": {"arm": treated, "n": int(t["n"])},
        "holdout": {"arm": holdout, "n": int(h["n"])},
        "costs": {
            **dataclasses.asdict(costs),
            "benefit_cost": costs.benefit_cost,
            "total": costs.total,
        },
        "incremental_conversions": dataclasses.asdict(roi.incremental_conversions),
        "incremental_revenue": dataclasses.asdict(roi.incremental_value),
        "roi": dataclasses.asdict(roi.roi),
        "cost_per_incremental_conversion": dataclasses.asdict(roi.cost_per_incremental_conversion),
    }
    if aum is not None:
        diff = welch_ttest(
            SampleMean(int(t["n"]), t["s2"], t["q2"]),
            SampleMean(int(h["n"]), h["s2"], h["q2"]),
            alpha=alpha,
        ).difference
        out["incremental_aum"] = dataclasses.asdict(scale(diff, int(t["n"])))
    return out
