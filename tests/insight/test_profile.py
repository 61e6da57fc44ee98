"""The 360° profile: every section about the right customer, scoped, masked, ordered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pytest

from access.fixtures import customers_table
from opsloop.access.principal import Principal
from opsloop.errors import NotFoundError
from opsloop.insight.profile import profile
from opsloop.insight.segments import materialise as mat
from opsloop.insight.segments import store as segstore
from opsloop.insight.tags.values import SCHEMA as TAG_SCHEMA
from opsloop.reach.models import ContactRow
from opsloop.store import Store
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import (
    ACCOUNTS,
    AUM_MONTHLY,
    CONTACTS,
    EVENTS,
    PRODUCTS,
    TRANSACTIONS,
)

HEAD = Principal(
    id="head", kind="user", permissions=frozenset({"customer:read", "contact:read", "segment:read"})
)
B02 = Principal(
    id="b02", kind="user", org_path="/HO/B02/", permissions=frozenset({"customer:read"})
)
MONTHS = [dt.date(2025, m, d) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30))]


def _bank() -> dict[str, pa.Table]:
    """Customers 1..12 (access fixture); customer 2 with history, others with little."""
    ev = [(f"m{i}", dt.datetime(2025, 6, 1 + i), "app_open", 2) for i in range(25)]
    ev += [("x1", dt.datetime(2025, 6, 5), "app_open", 3)]
    events = pa.table(
        {
            "message_id": [e[0] for e in ev],
            "ts": pa.array([e[1] for e in ev], pa.timestamp("us")),
            "event": [e[2] for e in ev],
            "customer_id": pa.array([e[3] for e in ev], pa.int64()),
            "anonymous_id": pa.nulls(len(ev), pa.string()),
            "platform": ["ios"] * len(ev),
            "properties": ["{}"] * len(ev),
        }
    )
    txn = pa.table(
        {
            "txn_id": pa.array([1, 2, 3], pa.int64()),
            "customer_id": pa.array([2, 2, 5], pa.int64()),
            "account_id": pa.array([10, 10, 11], pa.int64()),
            "ts": pa.array([dt.datetime(2025, 6, d) for d in (3, 9, 4)], pa.timestamp("us")),
            "amount": [100.0, 250.0, 7.0],
            "direction": ["in", "out", "in"],
            "kind": ["salary", "purchase", "salary"],
            "channel": ["app", "pos", "app"],
            "balance_after": pa.nulls(3, pa.float64()),
        }
    )
    aum_rows = [(2, m, 1000.0 * (i + 1)) for i, m in enumerate(MONTHS)]
    aum_rows += [(5, MONTHS[-1], 50.0)]  # below the churned threshold (100)
    aum = pa.table(
        {
            "customer_id": pa.array([r[0] for r in aum_rows], pa.int64()),
            "month": pa.array([r[1] for r in aum_rows], pa.date32()),
            "deposit_balance": [r[2] for r in aum_rows],
            "wealth_balance": [0.0] * len(aum_rows),
            "insurance_value": [0.0] * len(aum_rows),
            "aum": [r[2] for r in aum_rows],
            "loan_balance": [0.0] * len(aum_rows),
        }
    )
    products = pa.table(
        {
            "product_id": ["DEP", "FUND"],
            "category": ["deposit", "fund"],
            "name": ["活期", "基金"],
            "name_en": ["demand", "fund"],
            "risk_level": pa.array([1, 3], pa.int16()),
            "annual_rate": [0.01, None],
            "min_amount": [0.0, 1.0],
        }
    )
    accounts = pa.table(
        {
            "account_id": pa.array([10, 12, 11], pa.int64()),
            "customer_id": pa.array([2, 2, 5], pa.int64()),
            "product_id": ["DEP", "FUND", "DEP"],
            "opened_on": pa.array([dt.date(2020, 1, 1)] * 3, pa.date32()),
            "closed_on": pa.array([None, dt.date(2024, 1, 1), None], pa.date32()),
            "status": ["open", "closed", "open"],
            "principal": [None, 5.0, None],
        }
    )
    tags = pa.table(
        {
            "tag": ["vip", "vip", "score"],
            "customer_id": pa.array([2, 2, 2], pa.int64()),
            "value_bool": [False, True, None],
            "value_num": [None, None, 0.5],
            "value_str": pa.nulls(3, pa.string()),
            "as_of": pa.array([dt.date(2025, 5, 1), dt.date(2025, 6, 1), dt.date(2025, 6, 1)]),
        },
        schema=TAG_SCHEMA,
    )
    scores = pa.table(
        {
            "customer_id": pa.array([2, 3], pa.int64()),
            "model": ["churn", "churn"],
            "score": [0.9, 0.1],
            "band": ["high", "low"],
            "scored_at": pa.array([dt.datetime(2025, 7, 1)] * 2, pa.timestamp("us")),
            "reasons": ["a", "b"],
        }
    )
    past = pa.table(  # contact history loaded from outside: two for customer 2, one for 3
        {
            "contact_id": pa.array([1, 2, 3], pa.int64()),
            "customer_id": pa.array([2, 2, 3], pa.int64()),
            "campaign_id": ["tm-2024", "tm-2025", "tm-2025"],
            "channel": ["call", "sms", "sms"],
            "ts": pa.array(
                [dt.datetime(2024, 11, 2), dt.datetime(2025, 3, 4), dt.datetime(2025, 3, 4)],
                pa.timestamp("us"),
            ),
            "attempt": pa.array([1, 1, 1], pa.int32()),
            "duration_s": pa.array([35.0, None, None], pa.float64()),
            "outcome": ["success", "failure", "failure"],
        }
    )
    return {
        "contacts": past.select(CONTACTS.column_names),
        "customers": customers_table(),
        "events": events.select(EVENTS.column_names),
        "transactions": txn.select(TRANSACTIONS.column_names),
        "aum_monthly": aum.select(AUM_MONTHLY.column_names),
        "products": products.select(PRODUCTS.column_names),
        "accounts": accounts.select(ACCOUNTS.column_names),
        "tag_values": tags,
        "model_scores": scores,
    }


@pytest.fixture(scope="module")
def wh() -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    w.replace_tables(_bank())
    yield w
    w.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path_factory.mktemp('profile') / 's.db'}")
    with s.session() as session:
        session.add(
            ContactRow(
                customer_id=2, campaign="c1", channel="sms", kind="sent", at=dt.datetime.now(dt.UTC)
            )
        )
        session.add(
            ContactRow(
                customer_id=3, campaign="c1", channel="sms", kind="sent", at=dt.datetime.now(dt.UTC)
            )
        )
    yield s
    s.close()


def test_profile_sections(wh: Warehouse, store: Store) -> None:
    doc = {
        "id": "two",
        "name": "customer two",
        "root": {"kind": "attribute", "field": "customer_id", "op": "in", "value": [2, 3]},
    }
    admin = Principal(id="head", kind="user", permissions=frozenset({"*"}))
    segstore.create(store, principal=admin, doc=doc)
    mat.materialise(store, wh, principal=admin, segment_id="two", as_of=dt.date(2025, 6, 30))
    p = profile(wh=wh, store=store, principal=HEAD, customer_id=2, recent=20, months=4)
    assert p["customer_id"] == 2 and "****" in p["phone"]  # masked by default
    assert {t["tag"]: t["value"] for t in p["tags"]} == {"score": 0.5, "vip": True}
    assert [h["account_id"] for h in p["holdings"]] == [10]  # the closed fund is not held
    assert p["holdings"][0]["category"] == "deposit"
    assert [r["month"] for r in p["aum_trend"]] == MONTHS[-4:]
    ts = [e["ts"] for e in p["recent_events"]]
    assert len(ts) == 20 and ts == sorted(ts, reverse=True) and ts[0] == dt.datetime(2025, 6, 25)
    assert [t["amount"] for t in p["recent_transactions"]] == [250.0, 100.0]
    assert [s["segment_id"] for s in p["segments"]] == ["two"]
    assert p["lifecycle"]["month"] == MONTHS[-1]
    assert [(m["model"], m["band"]) for m in p["model_scores"]] == [("churn", "high")]
    assert [c["campaign"] for c in p["contacts"]] == ["c1"]
    past = [(c["campaign_id"], c["outcome"]) for c in p["past_contacts"]]
    assert past == [("tm-2025", "failure"), ("tm-2024", "success")]  # newest first, only theirs
    churned = profile(wh=wh, store=store, principal=HEAD, customer_id=5)
    assert churned["lifecycle"]["stage"] == "churned" and churned["segments"] == []


def test_profile_is_scoped_and_contacts_need_permission(wh: Warehouse, store: Store) -> None:
    with pytest.raises(NotFoundError):
        profile(wh=wh, store=store, principal=B02, customer_id=2)
    p = profile(wh=wh, store=store, principal=B02, customer_id=9)
    assert p["contacts"] is None and p["tags"] == [] and p["lifecycle"] is None
    assert p["past_contacts"] is None  # no contact:read, no contact history of either kind
