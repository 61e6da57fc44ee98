"""The console's own read routes (`/api/v1/console/*`) against pandas over the raw tables.

The AUM-tier flow is recomputed from `aum_monthly` (tiers by the documented bounds, a
customer in one month only flows from/to `absent`); the lifecycle flow must account for
exactly the customers of both months; the churn / high-potential lists must be the top
scores of `model_scores` in the caller's scope, with the masked PII of `customers`.
Raw rows come through the server's read-only SQL endpoint (the server owns the file).
"""

from __future__ import annotations

import collections
import datetime as dt
import sqlite3
from typing import Any

import pandas as pd
import pytest

from .conftest import REACH, SMS_SECRET, Bank, signed_in

RAW = {
    "customers": "select customer_id, org_path, org_id, rm_id, name_masked, phone_masked "
    "from customers",
    "aum": "select customer_id, month, aum from aum_monthly",
    "scores": "select customer_id, model, score, band from model_scores",
}
BOUNDS = ((50_000.0, "<50k"), (500_000.0, "50k-500k"), (6_000_000.0, "500k-6M"))


@pytest.fixture(scope="module")
def raw(bank: Bank) -> dict[str, pd.DataFrame]:
    out = {}
    with signed_in(bank, bank.admin) as client:
        for name, sql in RAW.items():
            resp = client.post("/api/v1/warehouse/query", json={"sql": sql, "limit": 1_000_000})
            assert resp.status_code == 200, resp.text
            out[name] = pd.DataFrame(resp.json()["rows"], columns=resp.json()["columns"])
    return out


def _tier(aum: float) -> str:
    return next((label for bound, label in BOUNDS if aum < bound), ">6M")


def _scoped_ids(raw: dict[str, pd.DataFrame], prefix: str) -> set[int]:
    c = raw["customers"]
    return set(c[c.org_path.str.startswith(prefix)].customer_id)


def _month(raw: dict[str, pd.DataFrame], month: str, ids: set[int]) -> dict[int, float]:
    a = raw["aum"]
    a = a[(a.month == month) & a.customer_id.isin(ids)]
    return dict(zip(a.customer_id, a.aum, strict=True))


@pytest.mark.parametrize("who,prefix", [("admin", "/HO/"), ("branch", "/HO/B01/")])
def test_tier_flow_equals_a_pandas_recount(
    bank: Bank, raw: dict[str, pd.DataFrame], who: str, prefix: str
) -> None:
    user = bank.admin if who == "admin" else bank.branch_user
    with signed_in(bank, user) as client:
        resp = client.get("/api/v1/console/lifecycle-flow", params={"by": "tier"})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["from_month"] < got["to_month"]
    ids = _scoped_ids(raw, prefix)
    a = _month(raw, got["from_month"], ids)
    b = _month(raw, got["to_month"], ids)
    want: collections.Counter[tuple[str, str]] = collections.Counter()
    for cid in set(a) | set(b):
        src = _tier(a[cid]) if cid in a else "absent"
        dst = _tier(b[cid]) if cid in b else "absent"
        want[(src, dst)] += 1
    assert want, "the oracle found no customers: the test would prove nothing"
    assert {(x["source"], x["target"]): x["customers"] for x in got["links"]} == dict(want)


def test_stage_flow_accounts_for_every_customer_of_both_months(
    bank: Bank, raw: dict[str, pd.DataFrame]
) -> None:
    with signed_in(bank, bank.branch_user) as client:
        got = client.get("/api/v1/console/lifecycle-flow", params={"by": "stage"}).json()
    ids = _scoped_ids(raw, "/HO/B01/")
    a = _month(raw, got["from_month"], ids)
    b = _month(raw, got["to_month"], ids)
    links = got["links"]
    assert sum(x["customers"] for x in links) == len(set(a) | set(b))
    assert sum(x["customers"] for x in links if x["source"] != "absent") == len(a)
    assert sum(x["customers"] for x in links if x["target"] != "absent") == len(b)
    stages = {"new", "growing", "mature", "declining", "dormant", "churned", "absent"}
    assert {x["source"] for x in links} | {x["target"] for x in links} <= stages


def test_flow_refuses_bad_months_and_names_the_field(bank: Bank) -> None:
    with signed_in(bank, bank.admin) as client:
        resp = client.get(
            "/api/v1/console/lifecycle-flow",
            params={"from_month": "2025-03-01", "to_month": "2025-02-01"},
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["where"] == "from_month"
        resp = client.get("/api/v1/console/lifecycle-flow", params={"by": "colour"})
        assert resp.status_code == 422
        assert "by" in str(resp.json()["detail"])


@pytest.mark.parametrize("model", ["churn", "propensity"])
@pytest.mark.parametrize("who,prefix", [("admin", "/HO/"), ("branch", "/HO/B01/")])
def test_scored_lists_are_the_top_scores_in_scope_with_masked_pii(
    bank: Bank, raw: dict[str, pd.DataFrame], model: str, who: str, prefix: str
) -> None:
    user = bank.admin if who == "admin" else bank.branch_user
    k = 15
    with signed_in(bank, user) as client:
        resp = client.get("/api/v1/console/scored-customers", params={"model": model, "k": k})
    assert resp.status_code == 200, resp.text
    got: list[dict[str, Any]] = resp.json()
    s = raw["scores"]
    s = s[(s.model == model) & s.customer_id.isin(_scoped_ids(raw, prefix))]
    want = s.sort_values(["score", "customer_id"], ascending=[False, True]).head(k)
    assert len(want) > 0
    assert [r["customer_id"] for r in got] == list(want.customer_id)
    assert [r["band"] for r in got] == list(want.band)
    cust = raw["customers"].set_index("customer_id")
    for r in got:
        assert r["name"] == cust.loc[r["customer_id"], "name_masked"]
        assert r["phone"] == cust.loc[r["customer_id"], "phone_masked"]
        assert "*" in r["phone"]
        assert cust.loc[r["customer_id"], "org_path"].startswith(prefix)


def test_channels_show_the_config_without_secrets_and_the_store_counts(bank: Bank) -> None:
    with signed_in(bank, bank.admin) as client:
        resp = client.get("/api/v1/console/channels", params={"hours": 24})
    assert resp.status_code == 200, resp.text
    assert SMS_SECRET not in resp.text and "/sms/send" not in resp.text
    got = {c["name"]: c for c in resp.json()["channels"]}
    for name, cfg in REACH["channels"].items():
        assert got[name]["kind"] == cfg["kind"]
        assert got[name]["rate_per_s"] == cfg.get("rate_per_s")
    assert got["sms"]["target"] == "127.0.0.1:9"
    assert got["email"]["target"] == "127.0.0.1:2525"
    db = bank.home / "opsloop.db"
    if db.exists():  # the oracle: the store's own rows, counted by hand
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)).isoformat()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            outbox = con.execute("select channel, status from reach_outbox").fetchall()
            contacts = con.execute("select channel, kind, at from reach_contacts").fetchall()
        for name, c in got.items():
            assert c["outbox"] == dict(collections.Counter(st for ch, st in outbox if ch == name))
            recent = [k for ch, k, at in contacts if ch == name and _utc(at) >= since]
            assert c["contacts"] == dict(collections.Counter(recent))
    with signed_in(bank, bank.branch_user) as client:  # counts span the bank: refused
        assert client.get("/api/v1/console/channels").status_code == 403


def _utc(at: str) -> str:
    t = dt.datetime.fromisoformat(at)
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
