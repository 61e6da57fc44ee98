"""Campaign evaluation: incremental effect from the exposure table, costs from the Reach
outbox and the Activity ledger — against a hand/SciPy computation."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from opsloop.activity.models import LedgerEntry
from opsloop.errors import NotFoundError
from opsloop.monitor.campaign import campaign_costs, campaign_evaluation
from opsloop.reach.models import OutboxRow
from opsloop.store import Store
from opsloop.warehouse import Warehouse

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    with s.session() as db:
        for i, status in enumerate(["sent"] * 300 + ["dead"] * 5):
            db.add(
                OutboxRow(
                    key=f"k{i}",
                    channel="sms",
                    customer_id=i,
                    campaign="spring",
                    payload={},
                    status=status,
                    attempts=1,
                    next_attempt_at=NOW,
                    cost=0.05,
                    created_at=NOW,
                )
            )
        db.add(
            OutboxRow(
                key="other",
                channel="sms",
                customer_id=1,
                campaign="other",
                payload={},
                status="sent",
                attempts=1,
                next_attempt_at=NOW,
                cost=9.0,
                created_at=NOW,
            )
        )
        for i, (kind, cents) in enumerate(
            [("issue", 1000)] * 40 + [("revoke", 1000)] * 4 + [("redeem", 1000)] * 12
        ):
            db.add(
                LedgerEntry(
                    unit_id=f"u{i}",
                    benefit_id="b",
                    activity_id="a1",
                    customer_id=i,
                    kind=kind,
                    value_cents=cents,
                    issued_on="2024-04-01",
                    idem_key=None,
                    at=NOW,
                )
            )
    return s


def test_costs_read_from_both_ledgers(store: Store) -> None:
    c = campaign_costs(store=store, campaign="spring", activity_id="a1", fixed_cost=100.0)
    assert c.messages_sent == 300 and c.contact_cost == pytest.approx(15.0)
    assert (c.benefits_issued, c.benefits_revoked, c.benefits_redeemed) == (400.0, 40.0, 120.0)
    assert c.total == pytest.approx(100 + 15 + 120)
    issued = campaign_costs(store=store, campaign="spring", activity_id="a1", basis="issued")
    assert issued.total == pytest.approx(15 + 360)


def test_evaluation_matches_scipy(store: Store) -> None:
    rng = np.random.default_rng(4)
    n_t, n_h = 3000, 1000
    arm = np.array(["mail"] * n_t + ["holdout"] * n_h)
    conv = (rng.random(n_t + n_h) < np.where(arm == "mail", 0.08, 0.05)).astype(int)
    revenue = conv * rng.gamma(2.0, 40.0, n_t + n_h)
    aum = rng.normal(np.where(arm == "mail", 300.0, 100.0), 2000.0)
    wh = Warehouse.open(":memory:")
    wh.replace_tables(
        {
            "spring_exposures": pa.table(
                {"arm": arm, "converted": conv, "revenue": revenue, "aum_change": aum}
            )
        }
    )
    got = campaign_evaluation(
        wh=wh,
        store=store,
        table="spring_exposures",
        campaign="spring",
        treated="mail",
        holdout="holdout",
        activity_id="a1",
        fixed_cost=100.0,
    )
    z = stats.norm.ppf(0.975)
    pt, ph = conv[arm == "mail"].mean(), conv[arm == "holdout"].mean()
    se = math.sqrt(pt * (1 - pt) / n_t + ph * (1 - ph) / n_h)
    inc = got["incremental_conversions"]
    assert inc["value"] == pytest.approx(n_t * (pt - ph), rel=1e-9)
    assert inc["ci_low"] == pytest.approx(n_t * (pt - ph - z * se), rel=1e-9)
    for col, key in (("revenue", "incremental_revenue"), ("aum_change", "incremental_aum")):
        a = {"revenue": revenue, "aum_change": aum}[col]
        res = stats.ttest_ind(a[arm == "mail"], a[arm == "holdout"], equal_var=False)
        ci = res.confidence_interval(0.95)
        diff = a[arm == "mail"].mean() - a[arm == "holdout"].mean()
        assert got[key]["value"] == pytest.approx(n_t * diff, rel=1e-9)
        assert got[key]["ci_low"] == pytest.approx(n_t * ci.low, rel=1e-6)
        assert got[key]["ci_high"] == pytest.approx(n_t * ci.high, rel=1e-6)
    cost = 100 + 15 + 120
    assert got["costs"]["total"] == pytest.approx(cost)
    assert got["roi"]["value"] == pytest.approx(
        (n_t * (revenue[arm == "mail"].mean() - revenue[arm == "holdout"].mean()) - cost) / cost
    )
    assert got["cost_per_incremental_conversion"]["value"] == pytest.approx(cost / inc["value"])
    with pytest.raises(NotFoundError) as err:
        campaign_evaluation(
            wh=wh,
            store=store,
            table="spring_exposures",
            campaign="spring",
            treated="push",
            holdout="holdout",
        )
    assert err.value.where == "treated"
