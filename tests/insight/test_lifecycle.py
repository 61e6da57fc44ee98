"""Lifecycle stages, AUM tiers and their flow against a pandas oracle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from opsloop.access.principal import Principal
from opsloop.insight.lifecycle import StageRules, flow, month_end, stages
from opsloop.settings import Settings
from opsloop.synth import generate_bank
from opsloop.warehouse import Warehouse


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    home = tmp_path_factory.mktemp("life")
    s = Settings(home=home, secret_key="test-secret-key-not-for-production-0123456789")  # type: ignore[arg-type]
    generate_bank(settings=s, customers=2000, months=6, seed=3, workers=1)
    wh = Warehouse.open(s.warehouse)
    yield wh
    wh.close()


def _oracle(wh: Warehouse, month: dt.date, r: StageRules) -> pd.DataFrame:
    aum = wh.execute(wh.table("aum_monthly")).to_pandas()
    cust = wh.execute(wh.table("customers")).to_pandas()
    ev = wh.execute(wh.table("events")).to_pandas()
    tx = wh.execute(wh.table("transactions")).to_pandas()
    m = pd.Timestamp(month_end(month))
    back = (m - pd.DateOffset(months=r.trend_months)) + pd.offsets.MonthEnd(0)
    now = aum[pd.to_datetime(aum.month) == m].set_index("customer_id").aum
    past = aum[pd.to_datetime(aum.month) == back].set_index("customer_id").aum
    start, end = m.replace(day=1), m + pd.Timedelta(days=1)
    act = pd.concat(
        [d[(d.ts >= start) & (d.ts < end)].customer_id.dropna() for d in (ev, tx)]
    ).value_counts()
    opened = pd.to_datetime(cust.set_index("customer_id").opened_on)
    out = {}
    for cid, a in now.items():
        p = past.get(cid)
        ratio = a / p if p is not None and p != 0 else 1.0
        tenure = (m - opened[cid]).days
        if a < r.churned_below_aum:
            s = "churned"
        elif tenure < r.new_within_days:
            s = "new"
        elif act.get(cid, 0) <= r.dormant_max_activity:
            s = "dormant"
        elif ratio < r.declining_ratio:
            s = "declining"
        elif ratio > r.growing_ratio:
            s = "growing"
        else:
            s = "mature"
        tier = "<50k" if a < 5e4 else "50k-500k" if a < 5e5 else "500k-6M" if a < 6e6 else ">6M"
        out[cid] = (s, tier)
    return pd.DataFrame.from_dict(out, orient="index", columns=["stage", "tier"])


@pytest.mark.parametrize("rules", [StageRules(), StageRules(trend_months=1, growing_ratio=1.05)])
def test_stages_and_flow_match_pandas(bank: Warehouse, rules: StageRules) -> None:
    m1, m2 = dt.date(2025, 4, 30), dt.date(2025, 6, 30)
    got = bank.execute(stages(wh=bank, month=m2, rules=rules)).to_pandas().set_index("customer_id")
    want = _oracle(bank, m2, rules)
    assert len(got) == len(want)
    assert (got.stage.sort_index() == want.stage.sort_index()).all()
    assert (got.tier.sort_index() == want.tier.sort_index()).all()
    assert got.stage.nunique() >= 4
    for by in ("stage", "tier"):
        a, b = _oracle(bank, m1, rules)[by], want[by]
        both = pd.concat([a.rename("from"), b.rename("to")], axis=1).fillna("absent")
        oracle = both.value_counts().to_dict()
        links = flow(wh=bank, from_month=m1, to_month=m2, by=by, rules=rules)
        assert {(x["from"], x["to"]): x["customers"] for x in links} == oracle


def test_flow_is_scoped(bank: Warehouse) -> None:
    paths = bank.execute(bank.table("customers").select("org_path")).column(0).to_pylist()
    branch = paths[0].split("/")[2]
    local = Principal(id="b", kind="user", org_path=f"/HO/{branch}/")
    m1, m2 = dt.date(2025, 5, 31), dt.date(2025, 6, 30)
    mine = sum(x["customers"] for x in flow(wh=bank, from_month=m1, to_month=m2, principal=local))
    everyone = sum(x["customers"] for x in flow(wh=bank, from_month=m1, to_month=m2))
    n_mine = int(np.sum([p.startswith(f"/HO/{branch}/") for p in paths]))
    assert 0 < mine <= n_mine and mine < everyone
