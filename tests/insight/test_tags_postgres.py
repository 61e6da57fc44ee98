"""Tags with a PostgreSQL warehouse (real server): the same values as DuckDB, day by day.

The write path on PostgreSQL is one ``raw_sql`` script (temporary batch tables, delete
the day, insert … select) in one transaction; this runs every tag type — rules folded
into their source and rules on semi-joins included — on both engines from the same
catalogue and compares every stored value, then checks a same-day rerun replaces and a
failing run leaves the day as it was.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.insight.tags.service import create_tag, import_ids, run_tags
from opsloop.store import Store
from opsloop.warehouse import Warehouse

from .conftest import AS_OF
from .test_tags import BASE, DOCS, aum_monthly, model_scores

RULES: list[dict[str, Any]] = [
    {"type": "rule", "name": "folded_txn", "condition": {"kind": "or", "children": [
        {"kind": "txn_aggregate", "agg": "sum", "last_days": 30, "op": ">", "value": 3000,
         "where": {"direction": "out"}},
        {"kind": "not", "child": {"kind": "txn_aggregate", "agg": "avg", "last_days": 7,
                                  "op": "<", "value": 2000, "where": {"channels": ["app"]}}}]}},
    {"type": "rule", "name": "folded_events", "condition": {
        "kind": "behaviour", "op": ">=", "count": 1, "last_days": 30,
        "step": {"event": "fund_detail_view", "properties": {"fund_code": "F1"}}}},
    {"type": "rule", "name": "folded_rfm", "condition": {
        "kind": "rfm", "recency": [4, 5], "monetary": [3, 5]}},
    {"type": "rule", "name": "semi_join_sequence", "condition": {
        "kind": "sequence", "first": {"event": "app_open"}, "then": {"event": "fund_purchase"},
        "within": 2, "unit": "days", "last_days": 30}},
]  # fmt: skip

COLUMNS = ["tag", "customer_id", "value_bool", "value_num", "value_str", "as_of"]


def stored(wh: Warehouse) -> pd.DataFrame:
    t = wh.table("tag_values")
    df = wh.execute(t.select(*COLUMNS)).to_pandas()
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    return df.sort_values(["tag", "as_of", "customer_id"]).reset_index(drop=True)


@pytest.mark.postgres
def test_postgres_warehouse_stores_what_duckdb_stores(
    pg_url: str, bank: dict[str, pa.Table], tmp_path: Path
) -> None:
    ids = bank["customers"].column("customer_id").to_pylist()
    data = {**bank, "aum_monthly": aum_monthly(ids), "model_scores": model_scores(ids)}
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    for doc in DOCS + RULES:
        create_tag(store=store, doc={**BASE, **doc}, principal=LOCAL_OPERATOR)
    import_ids(store=store, name="event_guests", ids=[3, 5, 8], principal=LOCAL_OPERATOR)
    duck, pg = Warehouse.open(":memory:"), Warehouse.open(pg_url)
    try:
        assert pg.dialect == "postgres"
        summaries = {}
        for wh in (duck, pg):
            wh.replace_tables(data)
            for day in (AS_OF - dt.timedelta(days=7), AS_OF):
                runs = run_tags(store=store, wh=wh, names=None, as_of=day, principal=LOCAL_OPERATOR)
            summaries[wh.dialect] = {r.tag: (r.with_value, r.distribution) for r in runs}
        a, b = stored(duck), stored(pg)
        assert len(a) > 0 and set(a.tag) == {d["name"] for d in DOCS + RULES}
        assert a.as_of.nunique() == 2
        pd.testing.assert_frame_equal(
            a.drop(columns="value_num"), b.drop(columns="value_num"), check_dtype=False
        )
        num = a.value_num.notna()
        assert (num == b.value_num.notna()).all()
        assert (
            (a.value_num[num] - b.value_num[num]).abs() <= 1e-9 * a.value_num[num].abs().clip(1)
        ).all()
        for tag, (n, dist) in summaries["duckdb"].items():
            n_pg, dist_pg = summaries["postgres"][tag]
            assert n == n_pg, tag
            for key, value in dist.items():
                if isinstance(value, float):
                    assert dist_pg[key] == pytest.approx(value, rel=1e-9), (tag, key)
                else:
                    assert dist_pg[key] == value, (tag, key)

        # a same-day rerun replaces that day's rows on PostgreSQL too
        run_tags(store=store, wh=pg, names=["folded_txn"], as_of=AS_OF, principal=LOCAL_OPERATOR)
        pd.testing.assert_frame_equal(stored(pg), b)

        # a run that fails part-way (the model batch comes after five batches already
        # deleted and re-inserted their rows) leaves the day as it was: one transaction
        pg.con.raw_sql("update transactions set amount = amount * 3").close()  # new values
        pg.con.raw_sql("alter table model_scores rename to scores_real").close()
        pg.con.raw_sql(
            "create view model_scores as select customer_id, model, score, "
            "band || (1 / (score - score))::varchar as band, scored_at, reasons from scores_real"
        ).close()
        with pytest.raises(Exception, match="division by zero"):
            run_tags(store=store, wh=pg, names=None, as_of=AS_OF, principal=LOCAL_OPERATOR)
        pd.testing.assert_frame_equal(stored(pg), b)
        pg.con.raw_sql("drop view model_scores").close()
        pg.con.raw_sql("alter table scores_real rename to model_scores").close()
        run_tags(store=store, wh=pg, names=None, as_of=AS_OF, principal=LOCAL_OPERATOR)
        assert not stored(pg).equals(b)  # the same run without the fault does change them
    finally:
        duck.close()
        pg.close()
        store.close()
