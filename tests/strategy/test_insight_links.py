"""Journeys on Insight's stores: tag splits, manual-tag actions, saved-segment entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from tests.strategy.helpers import NOW, make_warehouse

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.insight.segments import store as segment_store
from opsloop.insight.tags import service as tags
from opsloop.insight.tags.tables import TagManualIdRow
from opsloop.insight.tags.values import SCHEMA, TABLE
from opsloop.store import Store
from opsloop.strategy import service
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.models import CustomerState
from opsloop.strategy.policy import ContactPolicy, GlobalControl

POLICY = ContactPolicy(global_control=GlobalControl(share=0.0))
N = 60
FIRST_40 = {"kind": "attribute", "field": "customer_id", "op": "<=", "value": 40}


def _tag_values(rows: list[tuple[int, str, dt.date]]) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "tag": ["tier"] * n,
            "customer_id": [r[0] for r in rows],
            "value_bool": [None] * n,
            "value_num": [None] * n,
            "value_str": [r[1] for r in rows],
            "as_of": [r[2] for r in rows],
        },
        schema=SCHEMA,
    )


def test_tag_split_tag_actions_and_saved_segment(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    wh = make_warehouse(tmp_path / "w.duckdb", N)
    today, old = NOW.date(), NOW.date() - dt.timedelta(days=30)
    rows = [(c, "gold" if c % 3 == 0 else "silver", today) for c in range(1, N + 1, 2)]
    rows += [(c, "gold", old) for c in range(2, N + 1, 2)]  # an older run: must not leak
    wh.replace_tables({TABLE: _tag_values(rows)})
    doc = {"name": "vip", "owner": "ops", "category": "营销/名单", "value_type": "bool"}
    tags.create_tag(store=store, doc={**doc, "type": "manual"}, principal=LOCAL_OPERATOR)
    tags.import_ids(store=store, name="vip", ids=[1, 2, 3], principal=LOCAL_OPERATOR)
    saved = segment_store.create(
        store,
        principal=LOCAL_OPERATOR,
        doc={"id": "first", "name": "first", "root": FIRST_40},
    )
    journey = {
        "id": "tiers",
        "name": "By tier",
        "nodes": [
            {"id": "entry", "kind": "segment_entry", "config": {"segment_id": saved.segment_id}},
            {"id": "tier", "kind": "attribute_split",
             "config": {"tag": "tier", "cases": [{"branch": "gold", "values": ["gold"]}]}},
            {"id": "add", "kind": "tag", "config": {"op": "add", "tag": "vip"}},
            {"id": "drop", "kind": "tag", "config": {"op": "remove", "tag": "vip"}},
        ],
        "edges": [
            {"from": "entry", "to": "tier"},
            {"from": "tier", "to": "add", "branch": "gold"},
            {"from": "tier", "to": "drop", "branch": "other"},
        ],
    }  # fmt: skip
    res = service.run_entry(
        store=store, wh=wh, principal=LOCAL_OPERATOR, defn=validate_journey(journey), now=NOW,
        entry_key="k", policy=POLICY,
    )  # fmt: skip
    members = set(range(1, 41))
    gold = {c for c, v, d in rows if v == "gold" and d == today} & members
    assert res.entered == len(members)
    assert res.stats["tier"]["branch:gold"] == len(gold)
    with store.session() as s:
        entered = set(s.scalars(select(CustomerState.customer_id)))
        vip = set(s.scalars(select(TagManualIdRow.customer_id)))
    assert entered == members
    assert vip == gold | ({1, 2, 3} - (members - gold))  # gold added, others removed
    assert np.all([c % 3 == 0 and c % 2 == 1 for c in gold])
