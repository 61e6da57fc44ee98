"""A small generated bank for segment tests: nulls, window edges, JSON properties, HO customers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMERS, EVENTS, TRANSACTIONS

AS_OF = dt.date(2025, 6, 29)
END = dt.datetime(2025, 6, 30)  # windows are [END - days, END)
CITIES = ["北京", "上海", "Shenzhen", "Chengdu"]
EVENT_NAMES = ["app_open", "fund_detail_view", "fund_purchase", "login"]
PROPS = ['{"fund_code": "F1"}', '{"fund_code": "F2", "qty": 2}', '{"flag": true}', "{}", None]


def _nullify(rng: np.random.Generator, values: list[object], share: float) -> list[object]:
    return [None if rng.random() < share else v for v in values]


def make_bank(n: int = 400, seed: int = 11) -> dict[str, pa.Table]:
    """Customers with the canonical columns, transactions and events around ``END``."""
    rng = np.random.default_rng(seed)
    orgs = [f"B{b:02d}S{s:02d}" for b in range(1, 5) for s in range(1, 4)] + ["HO"]
    org = rng.choice(orgs, n, p=[0.08] * 12 + [0.04])
    cust = {c.name: pa.nulls(n, c.type) for c in CUSTOMERS.columns}
    cust |= {
        "customer_id": pa.array(np.arange(1, n + 1), pa.int64()),
        "org_id": pa.array(org),
        "org_path": pa.array(["/HO/" if o == "HO" else f"/HO/{o[:3]}/{o}/" for o in org]),
        "rm_id": pa.array(_nullify(rng, [f"RM{i % 7}" for i in range(n)], 0.3), pa.string()),
        "gender": pa.array(_nullify(rng, list(rng.choice(["F", "M"], n)), 0.1), pa.string()),
        "birth_date": pa.array(
            _nullify(
                rng,
                [
                    dt.date(1960, 1, 1) + dt.timedelta(days=int(d))
                    for d in rng.integers(0, 15000, n)
                ],
                0.1,
            ),
            pa.date32(),
        ),
        "income_monthly": pa.array(
            _nullify(rng, list(rng.lognormal(9, 0.8, n).round(2)), 0.1), pa.float64()
        ),
        "city": pa.array(_nullify(rng, list(rng.choice(CITIES, n)), 0.1), pa.string()),
        "kyc_risk_level": pa.array(
            _nullify(rng, [int(x) for x in rng.integers(1, 6, n)], 0.1), pa.int16()
        ),
        "opened_on": pa.array(
            [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1900, n)]
        ),
        "is_active": pa.array(rng.random(n) > 0.1),
        "name_masked": pa.array([f"客{i % 10}**" for i in range(n)]),
        "phone_masked": pa.array([f"138****{i:04d}" for i in range(n)]),
    }
    for flag in ("consent_sms", "consent_push", "consent_email", "consent_wechat"):
        cust[flag] = pa.array(rng.random(n) > 0.5)
    cust["consent_call"] = pa.array(rng.random(n) > 0.7)
    cust["dnd"] = pa.array(rng.random(n) > 0.9)
    m = n * 6
    txn_ts = [END - dt.timedelta(minutes=int(x)) for x in rng.integers(-3 * 1440, 120 * 1440, m)]
    txn_ts[:40] = [END - dt.timedelta(days=int(d)) for d in rng.integers(0, 100, 40)]  # edges
    txn = {
        "txn_id": pa.array(np.arange(m), pa.int64()),
        "customer_id": pa.array(rng.integers(1, n + 1, m), pa.int64()),
        "account_id": pa.nulls(m, pa.int64()),
        "ts": pa.array(txn_ts, pa.timestamp("us")),
        "amount": pa.array(rng.lognormal(7, 1.2, m).round(0) + 1),
        "direction": pa.array(rng.choice(["in", "out"], m)),
        "kind": pa.array(rng.choice(["salary", "transfer", "purchase", "fund_buy"], m)),
        "channel": pa.array(_nullify(rng, list(rng.choice(["app", "counter", "atm"], m)), 0.1)),
        "balance_after": pa.nulls(m, pa.float64()),
    }
    k = n * 5
    ev_ts = [END - dt.timedelta(minutes=int(x)) for x in rng.integers(-2 * 1440, 40 * 1440, k)]
    ev_ts[:30] = [END - dt.timedelta(days=int(d)) for d in rng.integers(0, 30, 30)]
    ev = {
        "message_id": pa.array([f"m{i}" for i in range(k)]),
        "ts": pa.array(ev_ts, pa.timestamp("us")),
        "event": pa.array(rng.choice(EVENT_NAMES, k, p=[0.35, 0.3, 0.15, 0.2])),
        "customer_id": pa.array(
            _nullify(rng, [int(x) for x in rng.integers(1, n + 1, k)], 0.05), pa.int64()
        ),
        "anonymous_id": pa.nulls(k, pa.string()),
        "platform": pa.array(rng.choice(["ios", "android"], k)),
        "properties": pa.array([PROPS[int(i)] for i in rng.integers(0, len(PROPS), k)]),
    }
    assert all(p is None or isinstance(json.loads(p), dict) for p in PROPS)
    return {
        "customers": pa.table(cust).select(list(CUSTOMERS.column_names)),
        "transactions": pa.table(txn).select(list(TRANSACTIONS.column_names)),
        "events": pa.table(ev).select(list(EVENTS.column_names)),
    }


@pytest.fixture(scope="session")
def bank() -> dict[str, pa.Table]:
    return make_bank()


@pytest.fixture(scope="session")
def bank_wh(bank: dict[str, pa.Table]) -> Iterator[Warehouse]:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(bank)
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def bank_file(bank: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same bank in a DuckDB file (closed), for commands that open it read-only."""
    path = tmp_path_factory.mktemp("segments") / "warehouse.duckdb"
    wh = Warehouse.open(str(path))
    wh.replace_tables(bank)
    wh.close()
    return path
