"""Tags: catalogue validation, each tag type's values against a pandas oracle on a small
generated bank, daily history (as-of reads, same-day rerun), coverage and distribution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.insight.models.scores import SCHEMA as SCORES
from opsloop.insight.rfm import SEGMENTS
from opsloop.insight.segments import SegmentDefinition, compile_segment
from opsloop.insight.segments.errors import SegmentValidationError
from opsloop.insight.segments.model import Tag
from opsloop.insight.tags import current_tags, tags_as_of
from opsloop.insight.tags.definition import validate_tag
from opsloop.insight.tags.service import (
    create_tag,
    customer_tags,
    due_tags,
    get_tag,
    import_ids,
    list_tags,
    run_tags,
)
from opsloop.store import Store
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import AUM_MONTHLY

from .conftest import AS_OF, END

BASE = {"owner": "ops-team", "category": "资产/交易"}
DOCS: list[dict[str, Any]] = [
    {"type": "rule", "name": "high_risk_sms",
     "condition": {"kind": "and", "children": [
         {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 4},
         {"kind": "attribute", "field": "consent_sms", "op": "=", "value": True}]}},
    {"type": "statistic", "name": "outflow_30d", "value_type": "number",
     "measure": {"of": "transactions", "agg": "sum", "last_days": 30,
                 "where": {"direction": "out"}}},
    {"type": "statistic", "name": "max_app_7d", "value_type": "number",
     "measure": {"of": "transactions", "agg": "max", "last_days": 7,
                 "where": {"channels": ["app"]}}},
    {"type": "statistic", "name": "txn_count_band", "value_type": "enum",
     "measure": {"of": "transactions", "agg": "count", "last_days": 90},
     "bands": [{"label": "few", "high": 4}, {"label": "some", "low": 4, "high": 8},
               {"label": "many", "low": 8}]},
    {"type": "statistic", "name": "fund_views_7d", "value_type": "number",
     "measure": {"of": "events", "step": {"event": "fund_detail_view"}, "last_days": 7}},
    {"type": "statistic", "name": "aum_3m", "value_type": "enum", "schedule": "0 2 * * *",
     "measure": {"of": "aum", "column": "aum", "months": 3},
     "bands": [{"label": "<50k", "high": 50000}, {"label": "50k-500k", "low": 50000,
                                                  "high": 500000}]},
    {"type": "statistic", "name": "rfm_segment", "value_type": "enum",
     "measure": {"of": "rfm", "output": "segment", "last_days": 365}},
    {"type": "statistic", "name": "rfm_m", "value_type": "number",
     "measure": {"of": "rfm", "output": "monetary", "last_days": 90}},
    {"type": "model", "name": "churn_band", "value_type": "enum", "model": "churn"},
    {"type": "manual", "name": "event_guests", "category": "活动/名单"},
]  # fmt: skip


def aum_monthly(ids: list[int]) -> pa.Table:
    rng = np.random.default_rng(3)
    months = [dt.date(2025, m + 1, 1) - dt.timedelta(days=1) for m in range(1, 7)]  # Jan..Jun
    rows = [(c, m, float(rng.integers(0, 600) * 1000)) for c in ids[:-20] for m in months
            if rng.random() < 0.8]  # fmt: skip
    z = [0.0] * len(rows)
    return pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "month": [r[1] for r in rows],
            "deposit_balance": [r[2] for r in rows],
            "wealth_balance": z,
            "insurance_value": z,
            "aum": [r[2] for r in rows],
            "loan_balance": z,
        }
    ).cast(AUM_MONTHLY.schema)


def model_scores(ids: list[int]) -> pa.Table:
    rng = np.random.default_rng(4)
    n = len(ids) - 50  # the last 50 customers are unscored
    return pa.table(
        {
            "customer_id": ids[:n],
            "model": ["churn"] * n,
            "score": rng.random(n),
            "band": list(rng.choice(["high", "medium", "low"], n)),
            "scored_at": [dt.datetime(2025, 6, 1)] * n,
            "reasons": [None] * n,
        },
        schema=SCORES,
    )


@pytest.fixture(scope="module")
def env(
    bank: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Warehouse, dict[str, pa.Table]]]:
    ids = bank["customers"].column("customer_id").to_pylist()
    data = {**bank, "aum_monthly": aum_monthly(ids), "model_scores": model_scores(ids)}
    wh = Warehouse.open(":memory:")
    wh.replace_tables(data)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('tags') / 'store.db'}")
    for doc in DOCS:
        create_tag(store=store, doc={**BASE, **doc}, principal=LOCAL_OPERATOR)
    import_ids(store=store, name="event_guests", ids=[3, 5, 5, 8, 99999],
               principal=LOCAL_OPERATOR)  # fmt: skip
    run_tags(store=store, wh=wh, names=None, as_of=AS_OF, principal=LOCAL_OPERATOR)
    yield store, wh, data
    wh.close()
    store.close()


def values(wh: Warehouse, tag: str, as_of: dt.date = AS_OF) -> pd.Series:
    df = wh.sql(f"select * from tag_values where tag = '{tag}' and as_of = '{as_of}'").to_pandas()
    col = next(c for c in ("value_bool", "value_num", "value_str") if df[c].notna().any())
    return df.set_index("customer_id")[col].sort_index()


# -- the pandas oracle -----------------------------------------------------------------------
def window(df: pd.DataFrame, days: int) -> pd.DataFrame:
    end = pd.Timestamp(END)
    return df[(df.ts >= end - pd.Timedelta(days=days)) & (df.ts < end)]


def oracle(name: str, data: dict[str, pa.Table]) -> pd.Series:
    c = data["customers"].to_pandas().set_index("customer_id").sort_index()
    t = data["transactions"].to_pandas()
    all_ids = pd.Series(0.0, index=c.index)
    if name == "high_risk_sms":
        return ((c.kyc_risk_level >= 4).fillna(False) & c.consent_sms).astype(bool)
    if name == "outflow_30d":
        w = window(t, 30)
        return all_ids.add(w[w.direction == "out"].groupby("customer_id").amount.sum(),
                           fill_value=0)  # fmt: skip
    if name == "max_app_7d":
        w = window(t, 7)
        return w[w.channel == "app"].groupby("customer_id").amount.max().astype(float)
    if name == "txn_count_band":
        n = all_ids.add(window(t, 90).groupby("customer_id").size(), fill_value=0)
        return n.map(lambda v: "few" if v < 4 else "some" if v < 8 else "many")
    if name == "fund_views_7d":
        e = window(data["events"].to_pandas(), 7)
        e = e[e.event == "fund_detail_view"]
        return all_ids.add(e.groupby("customer_id").size().astype(float), fill_value=0)
    if name == "aum_3m":
        a = data["aum_monthly"].to_pandas()
        a = a[(a.month >= dt.date(2025, 3, 1)) & (a.month <= dt.date(2025, 5, 31))]
        avg = a.groupby("customer_id").aum.mean()
        lab = avg.map(lambda v: "<50k" if v < 50000 else "50k-500k" if v < 500000 else None)
        return lab.dropna()
    if name in ("rfm_segment", "rfm_m"):
        w = window(t, 365 if name == "rfm_segment" else 90)
        per = w.groupby("customer_id").agg(r=("ts", "max"), f=("amount", "size"),
                                           m=("amount", "sum"))  # fmt: skip
        n = len(per)
        for k in "rfm":
            per[k + "s"] = [int(np.ceil(5 * (per[k] <= v).sum() / n)) for v in per[k]]
        if name == "rfm_m":
            return per.ms.astype(float)
        return pd.Series([SEGMENTS[(r >= 4, f >= 4, m >= 4)] for r, f, m in
                          zip(per.rs, per.fs, per.ms, strict=True)], index=per.index)  # fmt: skip
    if name == "churn_band":
        s = data["model_scores"].to_pandas()
        return s.set_index("customer_id").band
    if name == "event_guests":
        return pd.Series(c.index.isin([3, 5, 8]), index=c.index)
    raise AssertionError(name)


@pytest.mark.parametrize("name", [d["name"] for d in DOCS])
def test_values_match_pandas(name: str, env: tuple[Store, Warehouse, Any]) -> None:
    _, wh, data = env
    got, want = values(wh, name), oracle(name, data).sort_index()
    want.index.name = "customer_id"
    assert list(got.index) == list(want.index)
    if got.dtype == float:
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(dtype=float), rtol=1e-9)
    else:
        assert got.tolist() == want.tolist()
    assert got.nunique() > 1  # a tag with one value everywhere would test nothing


def test_coverage_and_distribution(env: tuple[Store, Warehouse, Any]) -> None:
    store, _wh, data = env
    n = data["customers"].num_rows
    runs = {t.name: t.last_run for t in list_tags(store=store)}
    for name in ("outflow_30d", "max_app_7d", "aum_3m", "churn_band", "high_risk_sms"):
        run = runs[name]
        assert run is not None
        want = oracle(name, data)
        assert run.customers == n and run.with_value == len(want)
        assert run.coverage == pytest.approx(len(want) / n)
    d = runs["max_app_7d"].distribution  # type: ignore[union-attr]
    v = oracle("max_app_7d", data).to_numpy()
    for key, q in (("p25", 25), ("median", 50), ("p75", 75)):
        assert d[key] == pytest.approx(np.percentile(v, q))
    assert d["min"] == v.min() and d["max"] == v.max() and d["mean"] == pytest.approx(v.mean())
    labels = runs["churn_band"].distribution["labels"]  # type: ignore[union-attr]
    assert labels == oracle("churn_band", data).value_counts().to_dict()
    flags = runs["high_risk_sms"].distribution  # type: ignore[union-attr]
    assert flags["true"] == int(oracle("high_risk_sms", data).sum())
    assert flags["true"] + flags["false"] == n


def test_history_as_of_and_same_day_rerun(bank: dict[str, pa.Table], tmp_path: Path) -> None:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(bank)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    create_tag(store=store, doc={**BASE, **DOCS[1]}, principal=LOCAL_OPERATOR)
    early, late = dt.date(2025, 6, 10), AS_OF
    for day in (early, late, late):  # the second run of `late` replaces the first
        run_tags(store=store, wh=wh, names=["outflow_30d"], as_of=day, principal=LOCAL_OPERATOR)
    per_day = wh.sql("select as_of, count(*) n from tag_values group by 1 order by 1").to_pylist()
    assert [r["n"] for r in per_day] == [bank["customers"].num_rows] * 2
    cid = int(values(wh, "outflow_30d").idxmax())
    now = {v.tag: v for v in current_tags(wh, cid)}["outflow_30d"]
    assert now.as_of == late and now.value == values(wh, "outflow_30d")[cid]
    then = {v.tag: v for v in tags_as_of(wh, cid, dt.date(2025, 6, 20))}["outflow_30d"]
    assert then.as_of == early and then.value == values(wh, "outflow_30d", early)[cid]
    assert tags_as_of(wh, cid, dt.date(2025, 6, 9)) == []
    assert len(get_tag(store=store, name="outflow_30d").last_run.__dict__) > 0  # type: ignore[union-attr]
    wh.close()
    store.close()


def test_due_tags_follow_schedule_and_last_run(bank: dict[str, pa.Table], tmp_path: Path) -> None:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(bank)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    nightly = {**BASE, **DOCS[1], "schedule": "0 2 * * *"}  # 02:00 Asia/Shanghai
    create_tag(store=store, doc=nightly, principal=LOCAL_OPERATOR)
    create_tag(store=store, doc={**BASE, **DOCS[0]}, principal=LOCAL_OPERATOR)  # no schedule
    at = dt.datetime(2025, 6, 30, 17, 59, tzinfo=dt.UTC)  # 01:59 local: fired yesterday
    assert due_tags(store=store, now=at) == ["outflow_30d"]
    run_tags(store=store, wh=wh, names=["outflow_30d"], as_of=AS_OF, principal=LOCAL_OPERATOR)
    now = dt.datetime.now(dt.UTC)
    assert due_tags(store=store, now=now) == []  # ran after the latest firing
    assert due_tags(store=store, now=now + dt.timedelta(days=1, minutes=1)) == ["outflow_30d"]
    wh.close()
    store.close()


def test_segment_tag_condition_counts_tag_values(env: tuple[Store, Warehouse, Any]) -> None:
    _, wh, data = env
    defn = SegmentDefinition(name="t", root=Tag(tag="txn_count_band", op="in",
                                                value=("some", "many")))  # fmt: skip
    tables = {n: wh.table(n) for n in ("customers", "transactions", "events", "tag_values")}
    expr = compile_segment(defn, wh_tables=tables, as_of=AS_OF)
    got = wh.execute(expr.count().as_table()).column(0)[0].as_py()
    assert got == int(oracle("txn_count_band", data).isin(["some", "many"]).sum())


def test_customer_tags_are_scoped(env: tuple[Store, Warehouse, Any]) -> None:
    _, wh, data = env
    c = data["customers"].to_pandas()
    inside = int(c[c.org_path.str.startswith("/HO/B01/")].customer_id.iloc[0])
    outside = int(c[c.org_path.str.startswith("/HO/B02/")].customer_id.iloc[0])
    branch = Principal(id="b", kind="user", org_path="/HO/B01/")
    assert {v.tag for v in customer_tags(wh=wh, principal=branch, customer_id=inside)} >= {
        "high_risk_sms", "outflow_30d"}  # fmt: skip
    with pytest.raises(NotFoundError):
        customer_tags(wh=wh, principal=branch, customer_id=outside)


def test_catalogue_errors_name_the_field(env: tuple[Store, Warehouse, Any]) -> None:
    store, _, _ = env
    overlapping = [{"label": "a", "high": 5}, {"label": "b", "low": 3}]
    attr = {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": "x"}
    bad_value = {"kind": "and", "children": [attr]}
    cases = {
        "name": {**BASE, **DOCS[0], "name": "Bad Name"},
        "schedule": {**BASE, **DOCS[1], "schedule": "61 * * * *"},
        "value_type": {**BASE, **DOCS[1], "value_type": "bool"},
        "category": {**BASE, **DOCS[1], "category": "a//b"},
        "bands": {**BASE, **DOCS[3], "bands": overlapping},
        "condition.children[0].value": {**BASE, **DOCS[0], "condition": bad_value},
        "owner": {k: v for k, v in {**BASE, **DOCS[1]}.items() if k != "owner"},
        "type": {**BASE, "type": "guess", "name": "x"},
    }  # fmt: skip
    for where, doc in cases.items():
        with pytest.raises(SegmentValidationError) as err:
            validate_tag(doc)
        assert where in [i.where for i in err.value.issues], (where, err.value.issues)
    with pytest.raises(ConflictError):
        create_tag(store=store, doc={**BASE, **DOCS[0]}, principal=LOCAL_OPERATOR)
    with pytest.raises(InvalidInputError, match="not manual"):
        import_ids(store=store, name="outflow_30d", ids=[1], principal=LOCAL_OPERATOR)
    with pytest.raises(NotFoundError):
        run_tags(store=store, wh=env[1], names=["nope"], as_of=AS_OF, principal=LOCAL_OPERATOR)


def test_monthly_schedule_fired_weeks_ago_is_due(bank: dict[str, pa.Table], tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    monthly = {**BASE, **DOCS[1], "schedule": "0 1 1 * *"}  # 01:00 local on the 1st
    create_tag(store=store, doc=monthly, principal=LOCAL_OPERATOR)
    at = dt.datetime(2025, 6, 28, 12, 0, tzinfo=dt.UTC)  # fired 27 days ago, never run
    assert due_tags(store=store, now=at) == ["outflow_30d"]
    store.close()
