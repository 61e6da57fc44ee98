"""Decision-tree insight (决策树洞察): which customers have a high rate of a target?

A shallow scikit-learn tree is fitted on features the segment language can express —
numeric ``customers`` columns (``attribute``) and transaction aggregates over the last
N days (``txn_aggregate``) — so every leaf is returned as a ready-to-save
:class:`SegmentDefinition` whose compiled count equals the leaf's size. The target is
itself a segment condition (e.g. "bought a fund in the last 90 days"), evaluated by
the segment compiler in the same query that builds the features.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import ibis
import numpy as np
from sklearn.tree import DecisionTreeClassifier

from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError
from opsloop.insight.segments.compiler import compile_segment, scope_customers, window_end
from opsloop.insight.segments.model import (
    And,
    Attribute,
    Condition,
    SegmentDefinition,
    TransactionAggregate,
    TxnFilter,
)
from opsloop.warehouse import Warehouse


@dataclass(frozen=True)
class TxnFeature:
    """A transaction aggregate the tree may split on (mirrors ``txn_aggregate``)."""

    name: str
    agg: str  # sum | count
    last_days: int
    where: TxnFilter = field(default_factory=TxnFilter)


ATTRIBUTES = ("income_monthly", "kyc_risk_level")
TXN_FEATURES = (
    TxnFeature("in_sum_90d", "sum", 90, TxnFilter(direction="in")),
    TxnFeature("out_sum_90d", "sum", 90, TxnFilter(direction="out")),
    TxnFeature("txn_count_90d", "count", 90),
    TxnFeature("salary_sum_90d", "sum", 90, TxnFilter(kinds=("salary",))),
    TxnFeature("redeem_count_90d", "count", 90, TxnFilter(kinds=("fund_redeem",))),
    TxnFeature("purchase_count_30d", "count", 30, TxnFilter(kinds=("purchase",))),
)
_INT_ATTRS = {"kyc_risk_level"}


@dataclass(frozen=True)
class Leaf:
    """One leaf: its segment, how many customers it holds and how many hit the target."""

    segment: SegmentDefinition
    size: int
    positives: int

    @property
    def rate(self) -> float:
        return self.positives / self.size if self.size else 0.0


@dataclass(frozen=True)
class TreeInsight:
    population: int
    positives: int
    leaves: list[Leaf]


def _features(
    wh: Warehouse,
    target: SegmentDefinition,
    as_of: dt.date,
    principal: Principal | None,
    dataset: str | None,
) -> ibis.Table:
    tables = {n: wh.table(n, dataset=dataset) for n in ("customers", "transactions", "events")}
    c = scope_customers(tables["customers"], None, principal)
    for a in ATTRIBUTES:
        c = c.filter(c[a].notnull())
    end = window_end(as_of)
    tx = tables["transactions"]
    longest = max(f.last_days for f in TXN_FEATURES)
    tx = tx.filter(
        tx.ts >= ibis.literal(end - dt.timedelta(days=longest), "timestamp"),
        tx.ts < ibis.literal(end, "timestamp"),
    )
    aggs = {}
    for f in TXN_FEATURES:
        cond = tx.ts >= ibis.literal(end - dt.timedelta(days=f.last_days), "timestamp")
        if f.where.direction is not None:
            cond &= tx.direction == f.where.direction
        if f.where.kinds:
            cond &= tx.kind.isin(list(f.where.kinds))
        aggs[f.name] = tx.amount.sum(where=cond) if f.agg == "sum" else tx.count(where=cond)
    per = tx.group_by("customer_id").aggregate(**aggs)
    t = c.select("customer_id", *ATTRIBUTES).left_join(per, "customer_id").drop("customer_id_right")
    t = t.mutate(**{f.name: t[f.name].fill_null(0) for f in TXN_FEATURES})
    hits = compile_segment(target, wh_tables=tables, as_of=as_of, principal=principal)
    return t.mutate(label=t.customer_id.isin(hits.customer_id).cast("int8"))


def _condition(name: str, upper: bool, threshold: float) -> Condition:
    """``feature <= threshold`` (``upper``) or ``feature > threshold`` as a segment node."""
    op = "<=" if upper else ">"
    if name in ATTRIBUTES:
        value: float | int = math.floor(threshold) if name in _INT_ATTRS else threshold
        return Attribute(field=name, op=op, value=value)
    f = next(x for x in TXN_FEATURES if x.name == name)
    agg = "sum" if f.agg == "sum" else "count"
    return TransactionAggregate(
        agg=agg, where=f.where, last_days=f.last_days, op=op, value=float(threshold)
    )


def tree_insight(
    *,
    wh: Warehouse,
    target: SegmentDefinition,
    as_of: dt.date,
    principal: Principal | None = None,
    max_depth: int = 3,
    min_leaf: int = 50,
    dataset: str | None = None,
) -> TreeInsight:
    """Fit a tree of depth ≤ ``max_depth`` and return its leaves as segments."""
    if not 1 <= max_depth <= 6:
        raise InvalidInputError("max_depth must be 1..6 (leaves stay readable)", where="max_depth")
    data = wh.execute(_features(wh, target, as_of, principal, dataset))
    names = [*ATTRIBUTES, *(f.name for f in TXN_FEATURES)]
    if data.num_rows == 0:
        return TreeInsight(0, 0, [])
    x = np.column_stack([data[n].to_numpy(zero_copy_only=False).astype(float) for n in names])
    y = data["label"].to_numpy(zero_copy_only=False).astype(int)
    model = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_leaf, random_state=0)
    model.fit(x, y)
    tree = model.tree_
    leaf_of = model.apply(x)
    leaves: list[Leaf] = []

    def walk(node: int, path: list[Condition]) -> None:
        left, right = int(tree.children_left[node]), int(tree.children_right[node])
        if left == -1:
            members = leaf_of == node
            root = And(children=(*_present(), *path))
            defn = SegmentDefinition(
                name=f"tree leaf {len(leaves) + 1}",
                description=f"decision-tree insight for {target.name!r} as of {as_of}",
                root=root,
            )
            leaves.append(Leaf(defn, int(members.sum()), int(y[members].sum())))
            return
        name, thr = names[int(tree.feature[node])], float(tree.threshold[node])
        walk(left, [*path, _condition(name, True, thr)])
        walk(right, [*path, _condition(name, False, thr)])

    walk(0, [])
    leaves.sort(key=lambda leaf: -leaf.rate)
    return TreeInsight(len(y), int(y.sum()), leaves)


def _present() -> tuple[Condition, ...]:
    """Customers with every attribute known: the population the tree was fitted on."""
    return tuple(Attribute(field=a, op="is_not_null") for a in ATTRIBUTES)
