"""Rule tags folded into their source's query give the same yes/no as the brute force.

A rule tag whose aggregates read one source (transaction aggregates, behaviour counts or
one RFM scoring) is computed as hidden ``filter`` columns of that source's ``group by``
instead of its own semi-join (:func:`opsloop.insight.tags.compute.fold_source`). The
oracle is the segment tests' plain-Python evaluator (it shares nothing with either
compiler); hypothesis draws the conditions, alone and in batches with statistic tags.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.insight.segments.model import (
    And,
    Attribute,
    Behaviour,
    EventStep,
    Not,
    Or,
    RfmBand,
    TransactionAggregate,
    TxnFilter,
)
from opsloop.insight.tags.compute import fold_source, plan
from opsloop.insight.tags.definition import RuleTag, TagDef, validate_tag
from opsloop.warehouse import Warehouse

from .conftest import AS_OF
from .test_segment_oracle import (
    Oracle,
    attributes,
    behaviours,
    pools,
    rfms,
    sequences,
    txn_aggregates,
)


@pytest.fixture(scope="module")
def oracle(bank: dict[str, pa.Table]) -> Oracle:
    from .conftest import END

    return Oracle(bank, END)


def rule(name: str, condition: Any) -> RuleTag:
    return RuleTag(name=name, owner="t", category="t", condition=condition)


def run(wh: Warehouse, defs: list[TagDef]) -> dict[str, set[int]]:
    """Each tag's customers with ``true`` (and a check that every customer has a value)."""
    tables = {n: wh.table(n) for n in ("customers", "transactions", "events")}
    n = wh.sql("select count(*) from customers").column(0)[0].as_py()
    out: dict[str, set[int]] = {}
    for batch in plan(defs, tables=tables, as_of=AS_OF):
        got = wh.execute(batch.expr).to_pylist()
        for col, d in zip(batch.columns, batch.tags, strict=True):
            if isinstance(d, RuleTag):
                assert len(got) == n and all(r[col] is not None for r in got), d.name
                out[d.name] = {r["customer_id"] for r in got if r[col]}
    return out


def one_source(leaves: st.SearchStrategy[Any], p: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """Trees of ``leaves`` mixed with attributes under and/or/not."""
    return st.recursive(
        st.one_of(leaves, leaves, attributes(p)),
        lambda kids: st.one_of(
            st.lists(kids, min_size=1, max_size=3).map(lambda cs: And(children=tuple(cs))),
            st.lists(kids, min_size=1, max_size=3).map(lambda cs: Or(children=tuple(cs))),
            kids.map(lambda c: Not(child=c)),
        ),
        max_leaves=5,
    )


RFM_365 = rfms.filter(lambda r: r.last_days == 365 and r.where == TxnFilter())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_folded_rules_match_oracle(
    data: st.DataObject, bank: dict[str, pa.Table], bank_wh: Warehouse, oracle: Oracle
) -> None:
    p = pools(bank)
    kinds = {"transactions": txn_aggregates(), "events": behaviours, "rfm": RFM_365,
             "mixed": st.one_of(txn_aggregates(), behaviours, sequences)}  # fmt: skip
    defs: list[TagDef] = []
    for kind, leaves in kinds.items():
        for i in range(data.draw(st.integers(1, 2), label=f"{kind} tags")):
            defs.append(rule(f"{kind}_{i}", data.draw(one_source(leaves, p), label=kind)))
    stats = [
        {"name": "s_out_30", "measure": {"of": "transactions", "agg": "sum", "last_days": 30,
                                         "where": {"direction": "out"}}},
        {"name": "s_views_7", "measure": {"of": "events", "last_days": 7,
                                          "step": {"event": "fund_detail_view"}}},
        {"name": "s_rfm_r", "measure": {"of": "rfm", "output": "recency"}},
    ]  # fmt: skip
    defs += [validate_tag({"type": "statistic", "owner": "t", "category": "t",
                           "value_type": "number", **s}) for s in stats]  # fmt: skip
    got = run(bank_wh, defs)
    for d in defs:
        if isinstance(d, RuleTag):
            assert got[d.name] == oracle.eval(d.condition), d.name


FOLDED: dict[str, Any] = {
    "zero_count_counts": TransactionAggregate(
        agg="count", where=TxnFilter(kinds=("salary",)), last_days=90, op="=", value=0
    ),
    "avg_of_none_is_false": Not(
        child=TransactionAggregate(
            agg="avg", where=TxnFilter(channels=("app",)), last_days=1, op="<", value=1e9
        )
    ),
    "never_opened": Behaviour(step=EventStep(event="app_open"), op="=", count=0, last_days=7),
    "property_filter": Behaviour(
        step=EventStep(event="fund_detail_view", properties={"fund_code": "F1"}), last_days=30
    ),
    "rfm_and_attribute": And(
        children=(
            RfmBand(recency=(4, 5), monetary=(3, 5)),
            Attribute(field="consent_sms", op="=", value=True),
        )
    ),
    "unscored_not_rfm": Not(child=RfmBand(frequency=(1, 2))),
}


@pytest.mark.parametrize("name", sorted(FOLDED))
def test_edge_cases_match_oracle(name: str, bank_wh: Warehouse, oracle: Oracle) -> None:
    cond = FOLDED[name]
    assert fold_source(cond) != "rule"
    got = run(bank_wh, [rule("t", cond)])["t"]
    want = oracle.eval(cond)
    assert got == want and 0 < len(want) < len(oracle.ids)


def test_each_source_is_scanned_once(bank_wh: Warehouse) -> None:
    """Four transaction rules, three event rules and an RFM rule beside statistics of the
    same sources: one batch per source, each naming its table once."""
    txn = [
        TransactionAggregate(agg=a, last_days=d, op=">", value=1, where=w)
        for a, d, w in (
            ("count", 90, TxnFilter(kinds=("salary",))),
            ("sum", 30, TxnFilter(direction="out")),
            ("max", 7, TxnFilter()),
            ("avg", 365, TxnFilter(channels=("app",))),
        )
    ]
    ev = [Behaviour(step=EventStep(event=e), count=2, last_days=d)
          for e, d in (("app_open", 30), ("login", 60), ("fund_detail_view", 7))]  # fmt: skip
    defs: list[TagDef] = [rule(f"t{i}", c) for i, c in enumerate(txn)]
    defs += [rule(f"e{i}", c) for i, c in enumerate(ev)]
    defs += [rule("rfm_top", RfmBand(recency=(4, 5), frequency=(4, 5), monetary=(4, 5)))]
    defs += [rule("attr", Attribute(field="dnd", op="=", value=False))]
    defs += [validate_tag({"type": "statistic", "owner": "t", "category": "t",
                           "value_type": "number", "name": "rfm_m",
                           "measure": {"of": "rfm", "output": "monetary"}})]  # fmt: skip
    tables = {n: bank_wh.table(n) for n in ("customers", "transactions", "events")}
    batches = plan(defs, tables=tables, as_of=AS_OF)
    assert sorted(b.source.split(":")[0] for b in batches) == [
        "events", "rfm", "rule", "transactions"]  # fmt: skip
    for b in batches:
        sql = str(bank_wh.con.compile(b.expr))
        scans = {t: len(re.findall(rf'"{t}"', sql)) for t in ("transactions", "events")}
        want = {"transactions": int(b.source != "events" and b.source != "rule"),
                "events": int(b.source == "events")}  # fmt: skip
        assert scans == want, (b.source, scans)


def test_two_sources_stay_on_semi_joins(bank_wh: Warehouse, oracle: Oracle) -> None:
    cond = Or(
        children=(
            TransactionAggregate(agg="count", last_days=7, op=">=", value=2),
            Behaviour(step=EventStep(event="login"), count=2, last_days=7),
        )
    )
    assert fold_source(cond) == "rule"
    assert run(bank_wh, [rule("t", cond)])["t"] == oracle.eval(cond)


def test_as_of_moves_folded_windows(bank: dict[str, pa.Table], bank_wh: Warehouse) -> None:
    from .conftest import END

    cond = TransactionAggregate(agg="sum", last_days=7, op=">", value=2000)
    tables = {n: bank_wh.table(n) for n in ("customers", "transactions", "events")}
    day = AS_OF - dt.timedelta(days=10)
    (batch,) = plan([rule("t", cond)], tables=tables, as_of=day)
    got = {r["customer_id"] for r in bank_wh.execute(batch.expr).to_pylist() if r["c0"]}
    assert got == Oracle(bank, END - dt.timedelta(days=10)).eval(cond)
