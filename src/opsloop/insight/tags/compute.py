"""Tag computation: a catalogue becomes a few wide Ibis expressions, one per source.

Tags that read the same source share one query (:func:`plan`): every transaction
statistic is a filtered aggregate (``sum(amount) filter (where …)``) of one ``group by``
over the widest window; events, AUM month-ends and model scores likewise; RFM tags share
one scoring per window. A rule tag whose aggregates all read one source (transaction
aggregates, behaviour counts, or one RFM scoring) is *folded* into that source's query:
each aggregate becomes one more hidden ``filter`` column of the same ``group by`` and
the rule is evaluated over ``customers`` left-joined to it (:class:`FoldCompiler`), so
the source is scanned once however many rules read it. Other rule tags (attributes
only, sequences, saved segments, tag conditions, or aggregates of two sources) are
columns of one ``select`` over ``customers`` compiled by the segment compiler
(semi-joins). Nothing runs per customer. :mod:`opsloop.insight.tags.write` stores the
result.

Semantics match the segment conditions: windows are ``[end - days, end)`` with ``end``
the midnight after ``as_of``; ``count`` and ``sum`` of no transactions are 0 (every
customer gets a value), ``avg``/``max``/``min`` of none are no value. Bands are
half-open ``[low, high)``; a number outside every band has no label.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from opsloop.errors import InvalidInputError
from opsloop.insight.rfm import rfm_scores, window_transactions
from opsloop.insight.segments.compiler import _COMPARE, SegmentCompiler, window_end
from opsloop.insight.segments.errors import UnsupportedNodeError
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
from opsloop.insight.tags.definition import (
    AumMeasure,
    Band,
    EventMeasure,
    ManualTag,
    ModelTag,
    RfmMeasure,
    RuleTag,
    StatisticTag,
    TagDef,
)

MANUAL_IDS = "tag_manual_ids"
"""The table (tag, customer_id) of manual tags' imported ids, given to :func:`plan`."""


@dataclass(frozen=True)
class Batch:
    """Tags computed by one query: ``expr`` has ``customer_id`` and one column per tag."""

    source: str
    tags: tuple[TagDef, ...]
    columns: tuple[str, ...]
    expr: ibis.Table


def plan(
    defs: Sequence[TagDef], *, tables: Mapping[str, ibis.Table], as_of: dt.date
) -> list[Batch]:
    """One batch per source the tags read; ``tables`` gives the warehouse tables by name."""
    groups: dict[str, list[TagDef]] = {}
    for d in defs:
        groups.setdefault(_source(d), []).append(d)
    batches = []
    for source, tags in groups.items():
        cols = tuple(f"c{i}" for i in range(len(tags)))
        builder = _BUILDERS[source.split(":")[0]]
        expr = builder(list(zip(cols, tags, strict=True)), tables, as_of)
        batches.append(Batch(source, tuple(tags), cols, expr))
    return batches


def _source(d: TagDef) -> str:
    if isinstance(d, StatisticTag):
        m = d.measure
        if isinstance(m, RfmMeasure):  # one scoring per window and filter
            return _rfm_key(m.last_days, m.where)
        return m.of
    if isinstance(d, RuleTag):
        return fold_source(d.condition)
    return d.type


def _rfm_key(last_days: int, where: TxnFilter) -> str:
    return f"rfm:{last_days}:{where.model_dump_json()}"


def fold_source(condition: object) -> str:
    """The one source a rule's aggregates read (``transactions``, ``events``, ``rfm:…``),
    or ``rule`` when it reads none, two, or a node that cannot be folded."""
    sources: set[str] = set()
    for leaf in _leaves(condition):
        if isinstance(leaf, Attribute):
            continue
        if isinstance(leaf, TransactionAggregate):
            sources.add("transactions")
        elif isinstance(leaf, Behaviour):
            sources.add("events")
        elif isinstance(leaf, RfmBand):
            sources.add(_rfm_key(leaf.last_days, leaf.where))
        else:  # sequence, saved segment, tag value: the segment compiler's semi-joins
            return "rule"
    return sources.pop() if len(sources) == 1 else "rule"


def _leaves(node: object) -> list[object]:
    if isinstance(node, And | Or):
        return [leaf for child in node.children for leaf in _leaves(child)]
    if isinstance(node, Not):
        return _leaves(node.child)
    return [node]


def _folded(pairs: Pairs, kind: type[Any]) -> dict[str, Any]:
    """The distinct ``kind`` nodes of the rule tags among ``pairs``, by their JSON."""
    return {
        leaf.model_dump_json(): leaf
        for _, d in pairs
        if isinstance(d, RuleTag)
        for leaf in _leaves(d.condition)
        if isinstance(leaf, kind)
    }


class FoldCompiler(SegmentCompiler):
    """Compiles a folded rule over ``customers`` left-joined to its source's aggregates.

    ``columns`` maps each aggregate node's JSON to the joined column holding its value
    (transaction aggregates and behaviour counts), and ``rfm`` names the joined r/f/m
    score columns. The answers are those of the segment compiler's semi-joins: ``count``
    and ``sum`` of nothing are 0, other aggregates of nothing are unknown (false).
    """

    def __init__(
        self,
        *,
        joined: ibis.Table,
        columns: Mapping[str, str],
        as_of: dt.date,
        rfm: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(customers=joined, tables={}, as_of=as_of)
        self.columns = columns
        self.rfm = rfm or {}

    def _compare(self, node: TransactionAggregate | Behaviour, value: float, zero: Any) -> Any:
        v: Any = self.c[self.columns[node.model_dump_json()]]
        if zero is not None:
            v = v.fill_null(zero)
        return _COMPARE[node.op](v, value).fill_null(False)

    def visit_TransactionAggregate(self, node: TransactionAggregate, where: str) -> ir.BooleanValue:  # noqa: N802
        zero = 0 if node.agg in ("count", "sum") else None
        return self._compare(node, node.value, zero)  # type: ignore[no-any-return]

    def visit_Behaviour(self, node: Behaviour, where: str) -> ir.BooleanValue:  # noqa: N802
        return self._compare(node, node.count, 0)  # type: ignore[no-any-return]

    def visit_RfmBand(self, node: RfmBand, where: str) -> ir.BooleanValue:  # noqa: N802
        if not self.rfm:
            raise UnsupportedNodeError("an rfm condition outside its RFM batch", where=where)
        bands = (("recency", node.recency), ("frequency", node.frequency),
                 ("monetary", node.monetary))  # fmt: skip
        parts = [self.c[self.rfm[m]].between(*band) for m, band in bands if band is not None]
        hit: Any = functools.reduce(operator.and_, parts)
        return hit.fill_null(False)  # type: ignore[no-any-return]


_AGG = {"sum": "sum", "avg": "mean", "max": "max", "min": "min"}
Pairs = list[tuple[str, Any]]
Builder = Callable[[Pairs, Mapping[str, ibis.Table], dt.date], ibis.Table]


def _rule(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    c = tables["customers"]
    comp = SegmentCompiler(customers=c, tables=tables, as_of=as_of)
    conds = {col: comp.compile(d.condition, f"{d.name}.condition") for col, d in pairs}
    return c.select("customer_id", **conds)


def _manual(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    c, ids = tables["customers"], tables[MANUAL_IDS]
    listed = {col: c.customer_id.isin(ids.filter(ids.tag == d.name).customer_id)
              for col, d in pairs}  # fmt: skip
    return c.select("customer_id", **listed)


def _transactions(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    stats: Pairs = [(col, d) for col, d in pairs if isinstance(d, StatisticTag)]
    nodes = _folded(pairs, TransactionAggregate)
    windows = [d.measure.last_days for _, d in stats] + [n.last_days for n in nodes.values()]
    t = window_transactions(tables["transactions"], as_of=as_of, last_days=max(windows))
    end = window_end(as_of)
    aggs: dict[str, ir.Value] = {}
    measures = [(col, d.measure) for col, d in stats]
    hidden = {key: f"_fold{i}" for i, key in enumerate(nodes)}
    measures += [(hidden[key], n) for key, n in nodes.items()]
    for col, m in measures:
        cond = _txn_cond(t, m.where, end - dt.timedelta(days=m.last_days))
        aggs[col] = (
            t.count(where=cond) if m.agg == "count" else getattr(t.amount, _AGG[m.agg])(where=cond)
        )
    per = t.group_by("customer_id").aggregate(**aggs)
    zero = {col for col, d in stats if d.measure.agg in ("count", "sum")}
    return _per_customer(tables["customers"], per, pairs, zero, hidden, as_of)


def _events(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    stats: Pairs = [(col, d) for col, d in pairs if isinstance(d, StatisticTag)]
    nodes = _folded(pairs, Behaviour)
    steps = [(col, d.measure.step, d.measure.last_days) for col, d in stats]
    hidden = {key: f"_fold{i}" for i, key in enumerate(nodes)}
    steps += [(hidden[key], n.step, n.last_days) for key, n in nodes.items()]
    widest = max(days for _, _, days in steps)
    end = window_end(as_of)
    e = tables["events"]
    names = sorted({step.event for _, step, _ in steps})
    e = e.filter(
        e.ts >= ibis.literal(end - dt.timedelta(days=widest), "timestamp"),
        e.ts < ibis.literal(end, "timestamp"),
        e.customer_id.notnull(),
        e.event.isin(names),
    )
    aggs = {
        col: e.count(where=_event_cond(e, step, end - dt.timedelta(days)))
        for col, step, days in steps
    }
    per = e.group_by("customer_id").aggregate(**aggs)
    zero = {col for col, _ in stats}
    return _per_customer(tables["customers"], per, pairs, zero, hidden, as_of)


def _aum(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    a = tables["aum_monthly"]
    last = _last_month_end(as_of)
    firsts = {col: _months_back(last, d.measure.months) for col, d in pairs}
    a = a.filter(a.month >= ibis.literal(min(firsts.values())), a.month <= ibis.literal(last))
    aggs = {
        col: a[d.measure.column].mean(where=a.month >= ibis.literal(firsts[col]))
        for col, d in pairs
    }
    per = a.group_by("customer_id").aggregate(**aggs)
    return _per_customer(tables["customers"], per, pairs, set())


def _rfm(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    first = pairs[0][1]
    m: Any = (
        first.measure
        if isinstance(first, StatisticTag)
        else next(iter(_folded(pairs, RfmBand).values()))
    )
    s = rfm_scores(tables["transactions"], as_of=as_of, last_days=m.last_days, where=m.where)
    stats: Pairs = [(col, d) for col, d in pairs if isinstance(d, StatisticTag)]
    out = {
        col: s.segment if d.measure.output == "segment" else s[d.measure.output[0]].cast("float64")
        for col, d in stats
    }
    if len(stats) == len(pairs):  # only the scored customers have values
        return _banded(s.select("customer_id", **out), pairs)
    # Folded rule tags: every customer, yes/no from the scores (none without a score).
    scores = s.select("customer_id", _r=s.r, _f=s.f, _m=s.m, **out)
    c = tables["customers"]
    j = c.left_join(scores, c.customer_id == scores.customer_id)
    comp = FoldCompiler(joined=j, columns={}, as_of=as_of,
                        rfm={"recency": "_r", "frequency": "_f", "monetary": "_m"})  # fmt: skip
    cols = {
        col: j[col]
        if isinstance(d, StatisticTag)
        else comp.compile(d.condition, f"{d.name}.condition")
        for col, d in pairs
    }
    return _banded(j.select(customer_id=c.customer_id, **cols), pairs)


def _model(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    if "model_scores" not in tables:
        names = ", ".join(sorted({d.model for _, d in pairs}))
        msg = f"no model scores in the warehouse for {names}: run `opsloop model train`"
        raise InvalidInputError(msg, where=pairs[0][1].name + ".model")
    s = tables["model_scores"]
    s = s.filter(s.model.isin(sorted({d.model for _, d in pairs})))
    aggs = {
        col: (s.band if d.output == "band" else s.score).max(where=s.model == d.model)
        for col, d in pairs
    }
    return s.group_by("customer_id").aggregate(**aggs)


_BUILDERS: dict[str, Builder] = {
    "rule": _rule,
    "manual": _manual,
    "transactions": _transactions,
    "events": _events,
    "aum": _aum,
    "rfm": _rfm,
    "model": _model,
}


# -- helpers ---------------------------------------------------------------------------------
def _per_customer(
    customers: ibis.Table,
    per: ibis.Table,
    pairs: Pairs,
    zero: set[str],
    hidden: Mapping[str, str] | None = None,
    as_of: dt.date | None = None,
) -> ibis.Table:
    """Every customer with the aggregate (``zero`` columns: 0 for customers without rows).

    Rule tags among ``pairs`` are folded: compiled over the join, reading the ``hidden``
    aggregate columns (node JSON → column).
    """
    rules = any(isinstance(d, RuleTag) for _, d in pairs)
    c = customers if rules else customers.select("customer_id")
    j = c.left_join(per, c.customer_id == per.customer_id)
    comp = FoldCompiler(joined=j, columns=hidden or {}, as_of=as_of) if rules and as_of else None
    cols: dict[str, Any] = {}
    for col, d in pairs:
        if isinstance(d, RuleTag):
            assert comp is not None
            cols[col] = comp.compile(d.condition, f"{d.name}.condition")
        else:
            cols[col] = (j[col].fill_null(0) if col in zero else j[col]).cast("float64")
    return _banded(j.select(customer_id=c.customer_id, **cols), pairs)


def _banded(expr: ibis.Table, pairs: Pairs) -> ibis.Table:
    """Numbers cut into labels where a statistic tag has bands."""
    out = {}
    for col, d in pairs:
        if isinstance(d, StatisticTag) and d.bands:
            out[col] = band_label(expr[col], d.bands)
    return expr.mutate(**out) if out else expr


def band_label(x: Any, bands: Sequence[Band]) -> ir.StringValue:
    """The label of the band ``[low, high)`` containing ``x``; none when outside all."""
    cases = []
    for b in bands:
        cond: Any = ibis.literal(True)
        if b.low is not None:
            cond = cond & (x >= b.low)
        if b.high is not None:
            cond = cond & (x < b.high)
        cases.append((cond, b.label))
    labelled: ir.StringValue = ibis.cases(*cases, else_=ibis.null("string"))
    return labelled


def _txn_cond(t: ibis.Table, where: TxnFilter, start: dt.datetime) -> Any:
    cond: Any = t.ts >= ibis.literal(start, "timestamp")
    if where.direction is not None:
        cond = cond & (t.direction == where.direction)
    if where.kinds:
        cond = cond & t.kind.isin(list(where.kinds))
    if where.channels:
        cond = cond & t.channel.isin(list(where.channels)).fill_null(False)
    return cond


def _event_cond(e: ibis.Table, step: EventStep, start: dt.datetime) -> Any:
    cond: Any = (e.ts >= ibis.literal(start, "timestamp")) & (e.event == step.event)
    for key, value in step.properties.items():
        prop: Any = e.properties.cast("json")[key]
        typed = (
            prop.bool
            if isinstance(value, bool)
            else prop.int
            if isinstance(value, int)
            else prop.str
        )
        cond = cond & (typed == value).fill_null(False)
    return cond


def _last_month_end(day: dt.date) -> dt.date:
    """The latest month-end on or before ``day``."""
    nxt = day + dt.timedelta(days=1)
    return day if nxt.day == 1 else day.replace(day=1) - dt.timedelta(days=1)


def _months_back(month_end: dt.date, months: int) -> dt.date:
    """The first day of the month ``months - 1`` months before ``month_end``'s month."""
    index = month_end.year * 12 + month_end.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


__all__ = ["MANUAL_IDS", "AumMeasure", "Batch", "EventMeasure", "FoldCompiler", "ManualTag",
           "ModelTag", "RuleTag", "band_label", "fold_source", "plan"]  # fmt: skip
