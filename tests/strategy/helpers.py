"""A tiny hand-built bank (customers + events) and the journeys the tests run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMERS, EVENTS

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a Monday


def customers(n: int, seed: int = 1) -> pa.Table:
    """``n`` customers with varied consent, DND, city and income (ids 1..n)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    cols: dict[str, Any] = {}
    for col in CUSTOMERS.columns:
        t = col.type
        if col.name == "customer_id":
            cols[col.name] = ids
        elif col.name == "org_path":
            cols[col.name] = np.array([f"/HO/B{int(i) % 3:02d}/" for i in ids], dtype=object)
        elif col.name == "org_id":
            cols[col.name] = np.array([f"B{int(i) % 3:02d}" for i in ids], dtype=object)
        elif col.name == "city":
            cols[col.name] = rng.choice(np.array(["SH", "BJ", "GZ"], dtype=object), n)
        elif col.name == "income_monthly":
            cols[col.name] = rng.uniform(2000, 50000, n)
        elif col.name.startswith("consent_"):
            cols[col.name] = rng.random(n) < 0.8
        elif col.name == "dnd":
            cols[col.name] = rng.random(n) < 0.1
        elif col.name == "is_active":
            cols[col.name] = np.ones(n, dtype=bool)
        elif pa.types.is_date(t):
            cols[col.name] = np.full(n, np.datetime64("2020-01-01", "D"))
        elif pa.types.is_integer(t):
            cols[col.name] = rng.integers(1, 6, n).astype(np.int16)
        elif pa.types.is_floating(t):
            cols[col.name] = rng.uniform(0, 1, n)
        else:
            cols[col.name] = np.full(n, None, dtype=object)
    return pa.table({k: pa.array(v, type=CUSTOMERS.schema.field(k).type) for k, v in cols.items()})


def events(rows: list[tuple[int, str, dt.datetime]]) -> pa.Table:
    return pa.table(
        {
            "message_id": [f"m{i}" for i in range(len(rows))],
            "ts": [r[2].astimezone(dt.UTC).replace(tzinfo=None) for r in rows],
            "event": [r[1] for r in rows],
            "customer_id": [r[0] for r in rows],
            "anonymous_id": [None] * len(rows),
            "platform": ["ios"] * len(rows),
            "properties": ["{}"] * len(rows),
        },
        schema=EVENTS.schema,
    )


def make_warehouse(path: Path, n: int, ev: list[tuple[int, str, dt.datetime]] = ()) -> Warehouse:  # type: ignore[assignment]
    wh = Warehouse.open(str(path))
    wh.replace_tables({"customers": customers(n), "events": events(list(ev))})
    return wh


def journey_doc(**over: Any) -> dict[str, Any]:
    """entry → condition (income ≥ 10k) → A/B(50/50, 10 % holdout) → cap → SMS → wait-for-event."""
    doc: dict[str, Any] = {
        "id": "welcome",
        "name": "Welcome",
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {
                "id": "rich",
                "kind": "condition",
                "config": {
                    "condition": {
                        "kind": "attribute",
                        "field": "income_monthly",
                        "op": ">=",
                        "value": 10000,
                    }
                },
            },
            {
                "id": "ab",
                "kind": "ab_split",
                "config": {
                    "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                    "holdout": 0.1,
                },
            },
            {
                "id": "cap",
                "kind": "frequency_cap",
                "config": {"max": 1, "per": {"amount": 7, "unit": "days"}},
            },
            {
                "id": "sms",
                "kind": "send_message",
                "config": {"channel": "sms", "template_id": "t-welcome", "cost_cents": 5},
                "on_blocked": {"action": "skip"},
            },
            {
                "id": "push",
                "kind": "send_message",
                "config": {"channel": "push", "template_id": "t-b"},
            },
            {
                "id": "login",
                "kind": "wait_event",
                "config": {
                    "event": {"event": "app_login"},
                    "timeout": {"amount": 3, "unit": "days"},
                },
            },
            {"id": "thanks", "kind": "tag", "config": {"op": "add", "tag": "engaged"}},
        ],
        "edges": [
            {"from": "entry", "to": "rich"},
            {"from": "rich", "to": "ab", "branch": "yes"},
            {"from": "ab", "to": "cap", "branch": "a"},
            {"from": "ab", "to": "push", "branch": "b"},
            {"from": "cap", "to": "sms", "branch": "pass"},
            {"from": "sms", "to": "login"},
            {"from": "push", "to": "login"},
            {"from": "login", "to": "thanks", "branch": "event"},
        ],
    }
    doc.update(over)
    return doc


class ArrayData:
    """Customer columns in memory (ids 1..n): the executor's data port without a warehouse."""

    def __init__(self, n: int, seed: int = 1) -> None:
        t = customers(n, seed)
        self.cols = {name: t.column(name).to_numpy(zero_copy_only=False) for name in t.column_names}

    def attribute(self, field: str, ids: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return self.cols[field][ids - 1]

    def condition(self, condition: Any, where: str, ids: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        assert condition.kind == "attribute" and condition.op == ">="
        return self.cols[condition.field][ids - 1] >= condition.value  # type: ignore[no-any-return]

    def scores(self, model: str, ids: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return np.full(len(ids), np.nan)

    def last_event(self, step: Any, ids: np.ndarray, after: dt.datetime) -> np.ndarray:  # type: ignore[type-arg]
        return np.full(len(ids), np.datetime64("NaT", "us"))


def send_journey(jid: str, channel: str = "sms") -> dict[str, Any]:
    """entry → send (capped ones skip on) → exit."""
    return {
        "id": jid,
        "name": jid,
        "reentry": {"mode": "always"},
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {
                "id": "send",
                "kind": "send_message",
                "config": {"channel": channel, "template_id": "t"},
                "on_blocked": {"action": "skip"},
            },
        ],
        "edges": [{"from": "entry", "to": "send"}],
    }


def webhook_doc(config: dict[str, Any]) -> dict[str, Any]:
    """api entry → one webhook node ``call`` with this config."""
    return {
        "id": "hooks",
        "name": "hooks",
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {"id": "call", "kind": "webhook", "config": config},
        ],
        "edges": [{"from": "entry", "to": "call"}],
    }
