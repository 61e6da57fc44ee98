"""Loading the real files: the documented counts, and values checked against a pandas read."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import select
from tests.datasets.realdata import Target, open_target, shared_datasets

from opsloop.datasets import load
from opsloop.store.models import DatasetLoad
from opsloop.warehouse import CANONICAL_TABLES

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, dict[str, float]]]:
    root = shared_datasets()
    target = open_target(tmp_path_factory.mktemp("real"))
    seconds = {}
    for source, folder in (
        ("berka", "berka"),
        ("bank-marketing", "bank-marketing"),
        ("hillstrom", "hillstrom"),
    ):
        started = time.perf_counter()
        load(source, root / folder, warehouse=target.warehouse, store=target.store)
        seconds[source] = time.perf_counter() - started
    yield target, seconds
    target.close()


def _q(target: Target, sql: str, dataset: str) -> list[dict[str, object]]:
    return target.warehouse.sql(sql, dataset=dataset).to_pylist()


def _one(target: Target, sql: str, dataset: str) -> object:
    return next(iter(_q(target, sql, dataset)[0].values()))


def test_every_canonical_table_with_its_columns(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    for ds in ("berka", "bank_marketing", "hillstrom"):
        tables = set(target.warehouse.tables(ds))
        for table in CANONICAL_TABLES:
            assert table.name in tables, (ds, table.name)
            columns = target.warehouse.table(table.name, dataset=ds).columns
            assert tuple(columns[: len(table.columns)]) == table.column_names


def test_fast_and_recorded(loaded: tuple[Target, dict[str, float]]) -> None:
    target, seconds = loaded
    assert all(s < 10 for s in seconds.values()), seconds
    with target.store.session() as s:
        rows = s.execute(select(DatasetLoad)).scalars().all()
        got = {r.dataset: (r.source, r.row_counts["customers"]) for r in rows}
    assert got == {
        "berka": ("berka", 5369),
        "bank_marketing": ("bank-marketing", 45211),
        "hillstrom": ("hillstrom", 64000),
    }


def test_org_paths_resolve(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    for ds in ("berka", "bank_marketing", "hillstrom"):
        orphans = _one(
            target,
            "select count(*) from customers c left join org_units o "
            "on o.org_id = c.org_id and o.path = c.org_path where o.org_id is null",
            ds,
        )
        assert orphans == 0, ds
    levels = _q(target, "select level, count(*) as n from org_units group by 1 order by 1", "berka")
    assert levels == [
        {"level": "branch", "n": 8},
        {"level": "head_office", "n": 1},
        {"level": "sub_branch", "n": 77},
    ]


# -- Berka -------------------------------------------------------------------------------------


def _berka(name: str, **kw: object) -> pd.DataFrame:
    return pd.read_csv(shared_datasets() / "berka" / name, sep=";", **kw)  # type: ignore[call-overload]


def test_berka_counts(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    counts = target.counts("berka")
    assert counts["customers"] == 5369
    assert counts["transactions"] == 49102
    assert counts["districts"] == 77
    assert counts["standing_orders"] == 6471
    by_kind = {
        r["source_table"]: (r["n"], r["accounts"])
        for r in _q(
            target,
            "select source_table, count(*) as n, count(distinct base_account_id) as accounts "
            "from accounts group by 1",
            "berka",
        )
    }
    assert by_kind["account"] == (5369, 4500)  # one row per disposition, 4,500 accounts
    assert by_kind["loan"][0] == 682
    assert by_kind["card"][0] == 892


def test_berka_values_match_the_raw_files(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    client = _berka("client.asc", dtype={"birth_number": str})
    women = int((client["birth_number"].str[2:4].astype(int) > 50).sum())
    assert _one(target, "select count(*) from customers where gender = 'F'", "berka") == women
    c1 = _q(target, "select birth_date, gender from customers where customer_id = 1", "berka")[0]
    assert str(c1["birth_date"]) == "1970-12-13" and c1["gender"] == "F"  # "706213"

    trans = _berka("trans.asc", keep_default_na=False, dtype={"amount": float})
    assert _one(target, "select sum(amount) from transactions", "berka") == pytest.approx(
        trans["amount"].sum()
    )
    incoming = int((trans["type"] == "PRIJEM").sum())
    assert _one(target, "select count(*) from transactions where direction = 'in'", "berka") == (
        incoming
    )
    assert str(_one(target, "select min(ts) from transactions", "berka")).startswith("1993-01-01")
    assert str(_one(target, "select max(ts) from transactions", "berka")).startswith("1994-03-31")

    loan = _berka("loan.asc")
    assert _one(
        target, "select sum(principal) from accounts where source_table = 'loan'", "berka"
    ) == pytest.approx(loan["amount"].sum())
    statuses = dict(
        (r["loan_status"], r["n"])
        for r in _q(
            target,
            "select loan_status, count(*) as n from accounts where loan_status is not null "
            "group by 1",
            "berka",
        )
    )
    assert statuses == loan["status"].value_counts().to_dict()


def test_berka_month_end_balance(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    trans = _berka("trans.asc", keep_default_na=False, dtype={"balance": float})
    # Account 2: its last transaction of March 1994 in file order gives the month-end.
    mine = trans[(trans["account_id"] == 2) & (trans["date"] // 100 == 9403)]
    expected = float(mine["balance"].iloc[-1])
    got = _q(
        target,
        "select aum, loan_balance, customer_id from aum_monthly "
        "where account_id = 2 and month = date '1994-03-31'",
        "berka",
    )[0]
    assert got["aum"] == pytest.approx(max(expected, 0.0))
    assert got["customer_id"] == 2
    months = _one(target, "select count(distinct month) from aum_monthly", "berka")
    assert months == 15  # 1993-01 .. 1994-03
    assert (
        _one(
            target,
            "select count(*) from (select customer_id, month from aum_monthly "
            "group by 1, 2 having count(*) > 1)",
            "berka",
        )
        == 0
    )


# -- bank-marketing ----------------------------------------------------------------------------


def test_bank_marketing(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    raw = pd.read_csv(shared_datasets() / "bank-marketing" / "bank-full.csv")
    ds = "bank_marketing"
    counts = target.counts(ds)
    assert counts["customers"] == counts["contacts"] == counts["campaign_outcomes"] == 45211
    assert _one(target, "select count(*) from campaign_outcomes where deposit", ds) == 5289
    assert _one(target, "select count(*) from customers where deposit", ds) == 5289
    assert _one(target, "select sum(balance) from customers", ds) == pytest.approx(
        raw["balance"].sum()
    )
    assert _one(target, "select count(*) from customers where occupation is null", ds) == int(
        (raw["job"] == "unknown").sum()
    )
    assert _one(target, "select sum(duration_s) from contacts", ds) == raw["duration"].sum()
    years = {
        r["y"]: r["n"]
        for r in _q(target, "select year(ts) as y, count(*) as n from contacts group by 1", ds)
    }
    assert years == {2008: 27729, 2009: 14862, 2010: 2620}
    assert str(_one(target, "select min(ts) from contacts", ds)).startswith("2008-05-05")
    assert _one(target, "select count(*) from contacts where contact_type is null", ds) == int(
        (raw["contact"] == "unknown").sum()
    )


# -- Hillstrom ---------------------------------------------------------------------------------


def test_hillstrom(loaded: tuple[Target, dict[str, float]]) -> None:
    target, _ = loaded
    raw = pd.read_csv(shared_datasets() / "hillstrom" / "hillstrom.csv")
    ds = "hillstrom"
    assert target.counts(ds)["customers"] == 64000
    arms = {
        r["arm"]: r["n"]
        for r in _q(target, "select arm, count(*) as n from experiment_assignments group by 1", ds)
    }
    assert arms == {"Mens E-Mail": 21307, "Womens E-Mail": 21387, "No E-Mail": 21306}
    assert arms == raw["segment"].value_counts().to_dict()
    spend = {
        r["arm"]: r["s"]
        for r in _q(
            target,
            "select a.arm, sum(o.value) as s from experiment_outcomes o join "
            "experiment_assignments a using (experiment_id, customer_id) "
            "where o.metric = 'spend' group by 1",
            ds,
        )
    }
    for arm, total in raw.groupby("segment")["spend"].sum().items():
        assert spend[str(arm)] == pytest.approx(total)
    assert _one(
        target, "select sum(value) from experiment_outcomes where metric = 'conversion'", ds
    ) == int(raw["conversion"].sum())
    assert _one(target, "select count(*) from contacts", ds) == 21307 + 21387
    assert _one(target, "select sum(history) from customers", ds) == pytest.approx(
        raw["history"].sum()
    )
