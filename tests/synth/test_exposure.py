"""The demo campaign's exposure table, against pandas over the bank's own tables; and
`opsloop demo` making it and the model scores once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsloop.cli.demo_data import ensure_demo_data
from opsloop.settings import Settings
from opsloop.synth import generate_bank
from opsloop.synth.campaign import EXPERIMENT_ID
from opsloop.synth.exposure import EXPOSURE_TABLE, write_exposure_table
from opsloop.warehouse import Warehouse

SECRET = "test-secret-key-not-for-production-0123456789"


def _df(wh: Warehouse, name: str) -> pd.DataFrame:
    return wh.execute(wh.table(name)).to_pandas()


def test_exposure_table_is_the_campaign_per_customer(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=SECRET)  # type: ignore[arg-type]
    generate_bank(settings=settings, customers=1_500, months=3, seed=11, workers=1)
    wh = Warehouse.open(settings.warehouse)
    try:
        n = write_exposure_table(wh)
        got = _df(wh, EXPOSURE_TABLE).set_index("customer_id").sort_index()
        arms = _df(wh, "experiment_assignments")
        outcomes = _df(wh, "experiment_outcomes")
        txn = _df(wh, "transactions")
        aum = _df(wh, "aum_monthly")
        assert write_exposure_table(wh) == n  # rewritten, not appended
    finally:
        wh.close()
    arms = arms[arms.experiment_id == EXPERIMENT_ID].set_index("customer_id").sort_index()
    assert n == len(arms) > 0 and list(got.index) == list(arms.index)
    assert (got.arm == arms.arm).all()
    conv = outcomes[(outcomes.experiment_id == EXPERIMENT_ID) & (outcomes.metric == "conversion")]
    want_conv = conv.groupby("customer_id").value.max().reindex(got.index).fillna(0).astype(int)
    assert (got.converted == want_conv).all() and got.converted.sum() > 0
    months = sorted(aum.month.unique())
    last, prev = months[-1], months[-2]
    buys = txn[(txn.kind == "fund_buy") & (txn.ts.dt.date > prev)]
    want_rev = buys.groupby("customer_id").amount.sum().reindex(got.index).fillna(0.0)
    assert (got.revenue - want_rev).abs().max() < 1e-6 and got.revenue.sum() > 0
    by_month = aum.pivot_table(index="customer_id", columns="month", values="aum")
    change = by_month.get(last, 0).fillna(0) - by_month.get(prev, 0).fillna(0)
    want_aum = change.reindex(got.index).fillna(0.0)
    assert (got.aum_change - want_aum).abs().max() < 1e-6


def test_demo_makes_the_exposure_table_and_scores_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=SECRET)  # type: ignore[arg-type]
    generate_bank(settings=settings, customers=2_000, months=3, seed=5, workers=1)
    said: list[str] = []
    made = ensure_demo_data(settings, said.append)
    assert made == [EXPOSURE_TABLE, "model_scores:churn", "model_scores:propensity"]
    assert len(said) == 3
    wh = Warehouse.open(settings.warehouse, read_only=True)
    try:
        scores = _df(wh, "model_scores")
    finally:
        wh.close()
    assert set(scores.model) == {"churn", "propensity"}
    assert ensure_demo_data(settings, said.append) == []  # a second `make run` skips it
