"""The home dashboard's figures against a pandas brute force over the raw tables.

Raw rows come from the server (it owns the DuckDB file) through the read-only SQL
endpoint; the oracle filters scope, months and distinct customers itself.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from .conftest import Bank, signed_in

RAW = {
    "customers": "select customer_id, org_path, opened_on, is_active from customers",
    "transactions": "select ts from transactions",
    "events": "select customer_id, ts from events where customer_id is not null",
    "aum": "select customer_id, month, aum from aum_monthly",
}


@pytest.fixture(scope="module")
def raw(bank: Bank) -> dict[str, pd.DataFrame]:
    out = {}
    with signed_in(bank, bank.admin) as client:
        for name, sql in RAW.items():
            resp = client.post("/api/v1/warehouse/query", json={"sql": sql, "limit": 1_000_000})
            assert resp.status_code == 200, resp.text
            out[name] = pd.DataFrame(resp.json()["rows"], columns=resp.json()["columns"])
    return out


def _oracle(raw: dict[str, pd.DataFrame], prefix: str) -> dict[str, object]:
    cust = raw["customers"]
    cust = cust[cust.org_path.str.startswith(prefix)]
    as_of = pd.to_datetime(raw["transactions"].ts).max().date()
    month = dt.date(as_of.year, as_of.month, 1)
    ev = raw["events"]
    ev = ev[ev.customer_id.isin(cust.customer_id)]
    ev_ts = pd.to_datetime(ev.ts)
    ev = ev[ev_ts < pd.Timestamp(as_of + dt.timedelta(days=1))]
    mau = ev.groupby(pd.to_datetime(ev.ts).dt.strftime("%Y-%m-01")).customer_id.nunique()
    aum = raw["aum"]
    aum = aum[aum.customer_id.isin(cust.customer_id)].groupby("month").aum.sum()
    return {
        "as_of": as_of.isoformat(),
        "customers": len(cust),
        "new_customers": int((pd.to_datetime(cust.opened_on).dt.date >= month).sum()),
        "inactive_customers": int((~cust.is_active.astype(bool)).sum()),
        "mau": {k: float(v) for k, v in mau.items()},
        "aum": {k: float(v) for k, v in aum.items()},
        "active_customers": int(mau.get(month.isoformat(), 0)),
    }


@pytest.mark.parametrize(("who", "prefix"), [("ops", "/HO/"), ("b01ops", "/HO/B01/")])
def test_dashboard_matches_a_pandas_oracle_in_the_callers_scope(
    bank: Bank, raw: dict[str, pd.DataFrame], who: str, prefix: str
) -> None:
    with signed_in(bank, who) as client:
        resp = client.get("/api/v1/dashboard")
    assert resp.status_code == 200, resp.text
    got = resp.json()
    want = _oracle(raw, prefix)
    for key in ("as_of", "customers", "new_customers", "inactive_customers", "active_customers"):
        assert got[key] == want[key], key
    assert {r["period"]: r["value"] for r in got["mau"]} == want["mau"]
    aum = {r["period"]: r["value"] for r in got["aum"]}
    assert aum.keys() == want["aum"].keys()  # type: ignore[attr-defined]
    for month, value in want["aum"].items():  # type: ignore[attr-defined]
        assert aum[month] == pytest.approx(value, rel=1e-9)
    changes = [r["change"] for r in got["aum"]]
    assert changes[0] is None
    values = [r["value"] for r in got["aum"]]
    assert changes[1:] == pytest.approx([b - a for a, b in itertools.pairwise(values)])


def test_branch_sees_fewer_customers_than_head_office(bank: Bank) -> None:
    with signed_in(bank, "ops") as ho, signed_in(bank, "b01ops") as b01:
        whole, branch = ho.get("/api/v1/dashboard").json(), b01.get("/api/v1/dashboard").json()
    assert 0 < branch["customers"] < whole["customers"]


def test_dashboard_refuses_bad_input_and_anonymous_callers(bank: Bank) -> None:
    with signed_in(bank, "ops") as client:
        bad = client.get("/api/v1/dashboard", params={"months": 0})
        assert bad.status_code == 422 and "months" in bad.text
        assert client.get("/api/v1/dashboard", params={"dataset": "../x"}).status_code == 422
    import httpx

    assert httpx.get(f"{bank.url}/api/v1/dashboard").status_code == 401
