"""Models on the synthetic bank: metrics against brute force, churn on a time split,
scores written back and high-potential lists inside the caller's scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from opsloop.access.principal import Principal
from opsloop.insight.models import evaluate, high_potential, lift_at, train
from opsloop.insight.models import features as feats
from opsloop.insight.models.scores import bands
from opsloop.settings import Settings
from opsloop.synth import generate_bank
from opsloop.warehouse import Warehouse

NOW = dt.datetime(2025, 10, 1, 6, 0)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    home = tmp_path_factory.mktemp("models")
    s = Settings(home=home, secret_key="test-secret-key-not-for-production-0123456789")  # type: ignore[arg-type]
    generate_bank(settings=s, customers=5000, months=9, seed=1, workers=1)
    wh = Warehouse.open(s.warehouse)
    yield wh
    wh.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=10, max_size=200),
    st.sampled_from([0.1, 0.2, 0.5]),
)
def test_lift_matches_brute_force(rows: list[tuple[bool, int]], share: float) -> None:
    y = np.array([int(a) for a, _ in rows])
    s = np.array([float(b) for _, b in rows])
    if y.sum() == 0:
        assert np.isnan(lift_at(y, s, share))
        return
    k = max(1, round(len(y) * share))
    order = sorted(range(len(y)), key=lambda i: (-s[i], i))  # stable on ties
    expected = np.mean([y[i] for i in order[:k]]) / np.mean(y)
    assert lift_at(y, s, share) == pytest.approx(expected)


def test_metrics_against_sklearn_and_perfect_ranking() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = y + rng.normal(0, 1.0, 500)
    m = evaluate(y, s)
    assert m.roc_auc == pytest.approx(roc_auc_score(y, s))
    assert m.n == 500 and m.positives == int(y.sum())
    perfect = evaluate(y, y.astype(float))
    assert perfect.roc_auc == 1.0 and perfect.pr_auc == 1.0


def test_bands_are_rank_shares() -> None:
    b = bands(np.arange(100, dtype=float))
    assert b.count("high") == 10 and b.count("medium") == 20 and b.count("low") == 70
    assert set(b[90:]) == {"high"}


def test_churn_features_leave_the_label_period_alone(bank: Warehouse) -> None:
    """Features at a cutoff are the same whatever happens after it (no leakage):
    a pandas oracle over the raw rows before the cutoff gives the same logins."""
    cut = dt.date(2025, 6, 1)
    fs = feats.churn(bank, cutoff=cut, horizon_days=30)
    ev = bank.execute(bank.table("events")).to_pandas()
    start = pd.Timestamp(cut) - pd.Timedelta(days=30)
    w = ev[(ev.ts >= start) & (ev.ts < pd.Timestamp(cut)) & (ev.event == "login")]
    oracle = w.groupby("customer_id").size()
    got = fs.table.to_pandas().set_index("customer_id").logins_30d
    assert (got.reindex(oracle.index).dropna() == oracle.reindex(got.index).dropna()).all()
    assert int(got.sum()) == int(oracle.reindex(got.index).fillna(0).sum())
    assert int(fs.table["label"].to_numpy().sum()) > 20


def test_churn_time_split_auc_and_scores(bank: Warehouse) -> None:
    report, _ = train("churn", wh=bank, now=NOW)
    m = report.metrics["test"]
    assert m.roc_auc >= 0.68, m  # churn follows falling activity by construction
    assert m.lift_top_decile > 2.0
    assert "time" in report.split and report.scored > 4000
    s = bank.execute(bank.table("model_scores")).to_pandas()
    assert set(s.model) == {"churn"} and s.customer_id.is_unique
    assert (s.band == "high").sum() == round(len(s) * 0.1)
    assert s.score.between(0, 1).all()


def test_propensity_keeps_other_models_and_high_potential_is_scoped(bank: Warehouse) -> None:
    train("churn", wh=bank, now=NOW)
    report, _ = train("propensity", wh=bank, now=NOW)
    assert report.metrics["test"].roc_auc >= 0.7
    s = bank.execute(bank.table("model_scores")).to_pandas()
    assert set(s.model) == {"churn", "propensity"}
    everyone = Principal(id="hq", kind="user")
    top = high_potential(wh=bank, principal=everyone, model="propensity", k=20)
    assert len(top) == 20
    assert [r["score"] for r in top] == sorted((r["score"] for r in top), reverse=True)
    assert top[0]["reasons"] and {"feature", "value", "contribution"} <= set(top[0]["reasons"][0])
    cust = bank.execute(bank.table("customers").select("customer_id", "org_path")).to_pandas()
    branch = cust.org_path.iloc[0].split("/")[2]
    mine = set(cust[cust.org_path.str.startswith(f"/HO/{branch}/")].customer_id)
    local = Principal(id="b", kind="user", org_path=f"/HO/{branch}/")
    top_b = high_potential(wh=bank, principal=local, model="propensity", k=50)
    assert top_b and {r["customer_id"] for r in top_b} <= mine
    expected = s[(s.model == "propensity") & s.customer_id.isin(mine)].nlargest(50, "score")
    assert [r["customer_id"] for r in top_b][:10] == list(expected.customer_id)[:10]


def test_unknown_task_is_named(tmp_path: Path) -> None:
    from opsloop.errors import InvalidInputError

    wh = Warehouse.open(str(tmp_path / "w.duckdb"))
    with pytest.raises(InvalidInputError, match="unknown task"):
        train("nope", wh=wh)
