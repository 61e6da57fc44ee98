"""The warehouse adapter: atomic writes, schema conformance, the same Ibis on two engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from opsloop.errors import InvalidInputError
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMERS, EVENTS, TRANSACTIONS

NOW = dt.datetime(2025, 6, 30)


def small_bank(n: int = 600, seed: int = 7) -> dict[str, pa.Table]:
    """Generated customers, transactions and events, just enough for query parity."""
    rng = np.random.default_rng(seed)
    branches = [f"B{b:02d}" for b in range(1, 5)]
    org_ids = [f"{b}S{s:02d}" for b in branches for s in range(1, 4)]
    org = rng.choice(org_ids, n)
    cust = {c.name: pa.nulls(n, c.type) for c in CUSTOMERS.columns}
    cust |= {
        "customer_id": pa.array(np.arange(1, n + 1), pa.int64()),
        "org_id": pa.array(org),
        "org_path": pa.array([f"/HO/{o[:3]}/{o}/" for o in org]),
        "rm_id": pa.array([f"RM{i % 7}" if i % 3 else None for i in range(n)]),
        "income_monthly": pa.array(rng.lognormal(9, 0.8, n).round(2)),
        "kyc_risk_level": pa.array(rng.integers(1, 6, n), pa.int16()),
        "opened_on": pa.array(
            [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1500, n)]
        ),
        "is_active": pa.array(rng.random(n) > 0.1),
    }
    for flag in (
        "consent_sms",
        "consent_push",
        "consent_email",
        "consent_wechat",
        "consent_call",
        "dnd",
    ):
        cust[flag] = pa.array(rng.random(n) > 0.5)
    m = n * 8
    txn = {
        "txn_id": pa.array(np.arange(m), pa.int64()),
        "customer_id": pa.array(rng.integers(1, n + 1, m), pa.int64()),
        "account_id": pa.nulls(m, pa.int64()),
        "ts": pa.array(
            [NOW - dt.timedelta(minutes=int(x)) for x in rng.integers(0, 90 * 1440, m)],
            pa.timestamp("us"),
        ),
        "amount": pa.array(rng.lognormal(7, 1.2, m).round(2)),
        "direction": pa.array(rng.choice(["in", "out"], m)),
        "kind": pa.array(rng.choice(["salary", "transfer", "purchase"], m)),
        "channel": pa.array(rng.choice(["app", "counter"], m)),
        "balance_after": pa.nulls(m, pa.float64()),
    }
    k = n * 6
    ev = {
        "message_id": pa.array([f"m{i}" for i in range(k)]),
        "ts": pa.array(
            [NOW - dt.timedelta(minutes=int(x)) for x in rng.integers(0, 30 * 1440, k)],
            pa.timestamp("us"),
        ),
        "event": pa.array(
            rng.choice(["app_open", "fund_detail_view", "fund_purchase"], k, p=[0.6, 0.3, 0.1])
        ),
        "customer_id": pa.array(rng.integers(1, n + 1, k), pa.int64()),
        "anonymous_id": pa.nulls(k, pa.string()),
        "platform": pa.array(rng.choice(["ios", "android"], k)),
        "properties": pa.array(["{}"] * k),
    }
    return {
        "customers": pa.table(cust).select(list(CUSTOMERS.column_names)),
        "transactions": pa.table(txn).select(list(TRANSACTIONS.column_names)),
        "events": pa.table(ev).select(list(EVENTS.column_names)),
    }


Query = Callable[[Warehouse], ibis.Expr]


def q_scoped_count(wh: Warehouse) -> ibis.Expr:
    c = wh.table("customers")
    return c.filter(c.org_path.startswith("/HO/B02/") & (c.kyc_risk_level >= 3)).count()


def q_branch_breakdown(wh: Warehouse) -> ibis.Expr:
    c = wh.table("customers")
    branch = c.org_path.substr(4, 3).name("branch")
    return (
        c.group_by(branch)
        .agg(n=c.count(), income=c.income_monthly.mean().round(4), active=c.is_active.sum())
        .order_by("branch")
    )


def q_outflow_30d(wh: Warehouse) -> ibis.Expr:
    t = wh.table("transactions")
    since = ibis.timestamp(NOW - dt.timedelta(days=30))
    out = t.filter((t.direction == "out") & (t.ts >= since))
    per = out.group_by("customer_id").agg(total=out.amount.sum())
    return per.filter(per.total > 5_000).count()


def q_behaviour(wh: Warehouse) -> ibis.Expr:
    e = wh.table("events")
    since = ibis.timestamp(NOW - dt.timedelta(days=7))
    views = e.filter((e.event == "fund_detail_view") & (e.ts >= since))
    per = views.group_by("customer_id").agg(n=views.count())
    c = wh.table("customers")
    hit = per.filter(per.n >= 2)
    return c.semi_join(hit, "customer_id").filter(c.consent_sms).count()


def q_top_by_branch(wh: Warehouse) -> ibis.Expr:
    c = wh.table("customers")
    ranked = c.mutate(
        rk=ibis.row_number().over(
            group_by=c.org_id, order_by=[c.income_monthly.desc(), c.customer_id]
        )
    )
    return ranked.filter(ranked.rk == 0).select("org_id", "customer_id").order_by("org_id")


QUERIES: list[Query] = [
    q_scoped_count,
    q_branch_breakdown,
    q_outflow_30d,
    q_behaviour,
    q_top_by_branch,
]


def _result(wh: Warehouse, q: Query) -> object:
    expr = q(wh)
    if isinstance(expr, ibis.expr.types.Scalar):
        return wh.execute(expr.as_table()).to_pylist()
    return wh.execute(expr).to_pylist()


def test_scoped_count_matches_pandas_oracle() -> None:
    data = small_bank()
    wh = Warehouse.open(":memory:")
    wh.replace_tables(data)
    df = data["customers"].to_pandas()
    expected = int(((df.org_path.str.startswith("/HO/B02/")) & (df.kyc_risk_level >= 3)).sum())
    got = list(wh.execute(q_scoped_count(wh).as_table()).to_pylist()[0].values())
    assert got == [expected]


def test_outflow_matches_pandas_oracle() -> None:
    data = small_bank()
    wh = Warehouse.open(":memory:")
    wh.replace_tables(data)
    t = data["transactions"].to_pandas()
    t = t[(t.direction == "out") & (t.ts >= pd.Timestamp(NOW - dt.timedelta(days=30)))]
    expected = int((t.groupby("customer_id").amount.sum() > 5_000).sum())
    got = list(wh.execute(q_outflow_30d(wh).as_table()).to_pylist()[0].values())
    assert got == [expected]


@pytest.mark.postgres
def test_same_ibis_gives_same_results_on_duckdb_and_postgres(pg_url: str) -> None:
    data = small_bank()
    duck = Warehouse.open(":memory:")
    duck.replace_tables(data)
    pg = Warehouse.open(pg_url)
    try:
        pg.replace_tables(data)
        for q in QUERIES:
            a, b = _result(duck, q), _result(pg, q)
            assert _normalise(a) == _normalise(b), q.__name__
    finally:
        pg.close()


def _normalise(rows: object) -> object:
    assert isinstance(rows, list)
    out = []
    for r in rows:
        out.append(tuple(round(v, 6) if isinstance(v, float) else v for v in r.values()))
    return out


@pytest.mark.postgres
def test_read_only_sql_on_postgres(pg_url: str) -> None:
    pg = Warehouse.open(pg_url)
    try:
        pg.replace_tables(small_bank(50))
        got = pg.sql("select count(*) as n from customers").to_pylist()
        assert got == [{"n": 50}]
        with pytest.raises(InvalidInputError):
            pg.sql("delete from customers")
    finally:
        pg.close()


def test_replace_tables_is_atomic(tmp_path: Path) -> None:
    wh = Warehouse.open(str(tmp_path / "w.duckdb"))
    good = small_bank(30)
    wh.replace_tables(good)
    before = {name: wh.checksum(name) for name in good}
    bad = dict(small_bank(40))
    bad["events"] = bad["events"].drop_columns(["event"])  # a canonical column missing
    with pytest.raises(ValueError, match="missing canonical columns"):
        wh.replace_tables(bad)
    assert {name: wh.checksum(name) for name in good} == before


def test_conform_rejects_nulls_in_required_columns() -> None:
    data = small_bank(10)
    cust = data["customers"]
    broken = cust.set_column(0, "customer_id", pa.nulls(10, pa.int64()))
    wh = Warehouse.open(":memory:")
    with pytest.raises(ValueError, match="customer_id"):
        wh.replace_tables({"customers": broken})


def test_datasets_are_separate_schemas() -> None:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(small_bank(10))
    wh.replace_tables(small_bank(20), dataset="bank-marketing")
    assert wh.datasets() == ["bank_marketing", "main"]
    n = wh.sql("select count(*) as n from customers", dataset="bank-marketing").to_pylist()
    assert n == [{"n": 20}]
    with pytest.raises(InvalidInputError):
        wh.table("customers", dataset="no such; drop")


def test_checksum_changes_with_content() -> None:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(small_bank(10, seed=1))
    a = wh.checksum("customers")
    wh.replace_tables(small_bank(10, seed=2))
    assert wh.checksum("customers") != a


@pytest.mark.postgres
def test_replace_tables_is_atomic_on_postgres(pg_url: str) -> None:
    pg = Warehouse.open(pg_url)
    try:
        good = small_bank(30)
        pg.replace_tables(good)
        bad = dict(small_bank(40))
        bad["events"] = bad["events"].drop_columns(["event"])
        with pytest.raises(ValueError, match="missing canonical columns"):
            pg.replace_tables(bad)
        # A failure while writing (a table that cannot be created) changes nothing either.
        broken = dict(small_bank(40))
        one = pa.array([1])
        broken["zz_bad"] = pa.Table.from_arrays([one, one], names=["x", "x"])
        with pytest.raises(Exception):  # noqa: B017 - any engine error will do
            pg.replace_tables(broken)
        got = pg.sql("select count(*) as n from customers").to_pylist()
        assert got == [{"n": 30}]
        import psycopg

        with psycopg.connect(pg_url) as raw:
            left = raw.execute(
                "select count(*) from information_schema.schemata "
                "where schema_name like '%staging%'"
            ).fetchone()
        assert left == (0,), "staging schemas are dropped"
    finally:
        pg.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://", "postgresql+psycopg://"])
def test_every_postgres_url_form_opens_postgres(pg_url: str, scheme: str) -> None:
    """The store's SQLAlchemy form must not be mistaken for a DuckDB file path."""
    url = scheme + pg_url.split("://", 1)[1]
    wh = Warehouse.open(url)
    try:
        assert wh.dialect == "postgres"
        wh.replace_tables(small_bank(5))
        assert wh.sql("select count(*) as n from customers").to_pylist() == [{"n": 5}]
    finally:
        wh.close()
