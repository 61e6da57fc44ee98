"""Grouped bulk inserts store exactly the rows given, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from opsloop.store import Store
from opsloop.strategy import bulk
from opsloop.strategy.models import CustomerState


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path}/ops.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = Store.open(url)
    yield s
    s.close()


def _columns(store: Store, n: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(3)
    with store.session() as s:
        stamps = bulk.timestamps(
            s, np.array(["2026-11-23T02:00", "2026-11-26T02:00", "NaT"], "datetime64[us]")
        )
    pick = rng.integers(0, 3, n)
    return {
        "customer_id": rng.permutation(n).astype(int).tolist(),
        "visit": rng.integers(1, 3, n).tolist(),
        "node_id": [["send", "wait", "cap"][i] for i in pick],
        "status": [["waiting", "done", "exited"][i] for i in rng.integers(0, 3, n)],
        "arm": [[None, "a", "b"][i] for i in rng.integers(0, 3, n)],
        "since": [stamps[0]] * n,
        "due_at": [stamps[i] for i in pick],  # None (NaT) among them
        "deadline_at": [None] * n,
    }


# grouped, the one-statement fallback for varied rows, and for a small batch
@pytest.mark.parametrize(("max_groups", "min_rows"), [(256, 1000), (1, 1000), (256, 5000)])
def test_grouped_insert_stores_every_row_as_given(
    store: Store, max_groups: int, min_rows: int
) -> None:
    cols = _columns(store, 3000)
    consts = {"journey_id": "j", "version": 2, "entry_key": "k", "entered_at": cols["since"][0]}
    with store.session() as s:
        bulk.insert_grouped(
            s, "strategy_states", consts=consts, columns=cols, key="customer_id",
            max_groups=max_groups, min_rows=min_rows,
        )  # fmt: skip
    with store.session() as s:
        got = {
            r.customer_id: (r.visit, r.node_id, r.status, r.arm, r.due_at is None)
            for r in s.execute(select(CustomerState)).scalars().all()
        }
    want = {
        cid: (v, node, st, arm, due is None)
        for cid, v, node, st, arm, due in zip(
            cols["customer_id"], cols["visit"], cols["node_id"], cols["status"], cols["arm"],
            cols["due_at"], strict=True,
        )
    }  # fmt: skip
    assert len(got) == 3000 and got == want
