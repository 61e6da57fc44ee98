"""RFM scores and segments agree with a pandas brute force on hypothesis-drawn transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.insight.rfm import SEGMENTS, rfm_scores, segment_label
from opsloop.insight.segments.model import TxnFilter
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import TRANSACTIONS

AS_OF = dt.date(2025, 6, 29)
END = pd.Timestamp("2025-06-30")


@pytest.fixture(scope="module")
def wh() -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    yield w
    w.close()


def oracle(df: pd.DataFrame, last_days: int, direction: str | None, high_from: int) -> pd.DataFrame:
    """Textbook definition, counted pairwise: score = ceil(5 k / n), k = #{v' <= v}."""
    t = df[(df.ts >= END - pd.Timedelta(days=last_days)) & (df.ts < END)]
    if direction:
        t = t[t.direction == direction]
    per = t.groupby("customer_id").agg(
        recency=("ts", "max"), frequency=("amount", "size"), monetary=("amount", "sum")
    )
    n = len(per)
    for s, m in zip("rfm", ("recency", "frequency", "monetary"), strict=True):
        vals = per[m].tolist()
        per[s] = [-(-5 * sum(1 for w in vals if w <= v) // n) for v in vals]
    per["segment"] = [
        SEGMENTS[(r >= high_from, f >= high_from, m >= high_from)]
        for r, f, m in zip(per.r, per.f, per.m, strict=True)
    ]
    return per.sort_index()


rows = st.lists(
    st.tuples(
        st.integers(1, 25),  # customer
        st.integers(-2 * 24, 120 * 24),  # hours before END
        st.sampled_from([10.0, 50.0, 50.0, 100.0, 999.5, 5000.0]),  # ties on purpose
        st.sampled_from(["in", "out"]),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=rows,
    last_days=st.sampled_from([7, 30, 90, 365]),
    direction=st.sampled_from([None, "in", "out"]),
    high_from=st.integers(1, 5),
)
def test_scores_match_pandas(
    wh: Warehouse,
    data: list[tuple[int, int, float, str]],
    last_days: int,
    direction: str | None,
    high_from: int,
) -> None:
    n = len(data)
    df = pd.DataFrame(
        {
            "txn_id": range(n),
            "customer_id": [r[0] for r in data],
            "account_id": [None] * n,
            "ts": [END - pd.Timedelta(hours=r[1]) for r in data],
            "amount": [r[2] for r in data],
            "direction": [r[3] for r in data],
            "kind": ["transfer"] * n,
            "channel": ["app"] * n,
            "balance_after": [None] * n,
        }
    )
    table = pa.Table.from_pandas(df, preserve_index=False).cast(TRANSACTIONS.schema)
    import ibis

    expr = rfm_scores(
        ibis.memtable(table),
        as_of=AS_OF,
        last_days=last_days,
        where=TxnFilter(direction=direction),  # type: ignore[arg-type]
        high_from=high_from,
    )
    got = wh.execute(expr).to_pandas().set_index("customer_id").sort_index()
    want = oracle(df, last_days, direction, high_from)
    assert list(got.index) == list(want.index)
    for col in ("r", "f", "m", "segment", "frequency"):
        assert got[col].tolist() == want[col].tolist(), col
    assert got.monetary.round(6).tolist() == want.monetary.round(6).tolist()


def test_segment_label_table() -> None:
    assert segment_label(5, 5, 5) == "重要价值客户"
    assert segment_label(1, 5, 5) == "重要保持客户"
    assert segment_label(5, 1, 4) == "重要发展客户"
    assert segment_label(3, 3, 3) == "一般挽留客户"
    assert segment_label(3, 3, 3, high_from=3) == "重要价值客户"
    assert len(set(SEGMENTS.values())) == 8


def test_high_from_is_checked() -> None:
    import ibis

    t = ibis.table(ibis.Schema.from_pyarrow(TRANSACTIONS.schema), name="transactions")
    with pytest.raises(ValueError, match="high_from"):
        rfm_scores(t, as_of=AS_OF, high_from=0)
