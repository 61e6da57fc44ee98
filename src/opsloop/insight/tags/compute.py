"""Tag computation: a catalogue becomes a few wide Ibis expressions, one per source.

Tags that read the same source share one query (:func:`plan`): every rule tag is a
column of one ``select`` over ``customers``; every transaction statistic is a filtered
aggregate (``sum(amount) filter (where …)``) of one ``group by`` over the widest window;
events, AUM month-ends and model scores likewise; RFM tags share one scoring per
window. Nothing runs per customer. :mod:`opsloop.insight.tags.write` stores the result.

Semantics match the segment conditions: windows are ``[end - days, end)`` with ``end``
the midnight after ``as_of``; ``count`` and ``sum`` of no transactions are 0 (every
customer gets a value), ``avg``/``max``/``min`` of none are no value. Bands are
half-open ``[low, high)``; a number outside every band has no label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from opsloop.errors import InvalidInputError
from opsloop.insight.rfm import rfm_scores, window_transactions
from opsloop.insight.segments.compiler import SegmentCompiler, window_end
from opsloop.insight.segments.model import EventStep, TxnFilter
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
    TxnMeasure,
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
            return f"rfm:{m.last_days}:{m.where.model_dump_json()}"
        return m.of
    return d.type


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
    widest = max(d.measure.last_days for _, d in pairs)
    t = window_transactions(tables["transactions"], as_of=as_of, last_days=widest)
    end = window_end(as_of)
    aggs: dict[str, ir.Value] = {}
    for col, d in pairs:
        m: TxnMeasure = d.measure
        cond = _txn_cond(t, m.where, end - dt.timedelta(days=m.last_days))
        aggs[col] = (
            t.count(where=cond) if m.agg == "count" else getattr(t.amount, _AGG[m.agg])(where=cond)
        )
    per = t.group_by("customer_id").aggregate(**aggs)
    zero = {col for col, d in pairs if d.measure.agg in ("count", "sum")}
    return _per_customer(tables["customers"], per, pairs, zero)


def _events(pairs: Pairs, tables: Mapping[str, ibis.Table], as_of: dt.date) -> ibis.Table:
    widest = max(d.measure.last_days for _, d in pairs)
    end = window_end(as_of)
    e = tables["events"]
    names = sorted({d.measure.step.event for _, d in pairs})
    e = e.filter(
        e.ts >= ibis.literal(end - dt.timedelta(days=widest), "timestamp"),
        e.ts < ibis.literal(end, "timestamp"),
        e.customer_id.notnull(),
        e.event.isin(names),
    )
    aggs = {
        col: e.count(where=_event_cond(e, d.measure.step, end - dt.timedelta(d.measure.last_days)))
        for col, d in pairs
    }
    per = e.group_by("customer_id").aggregate(**aggs)
    return _per_customer(tables["customers"], per, pairs, {col for col, _ in pairs})


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
    m: RfmMeasure = pairs[0][1].measure
    s = rfm_scores(tables["transactions"], as_of=as_of, last_days=m.last_days, where=m.where)
    out = {
        col: s.segment if d.measure.output == "segment" else s[d.measure.output[0]].cast("float64")
        for col, d in pairs
    }
    return _banded(s.select("customer_id", **out), pairs)


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
    customers: ibis.Table, per: ibis.Table, pairs: Pairs, zero: set[str]
) -> ibis.Table:
    """Every customer with the aggregate (``zero`` columns: 0 for customers without rows)."""
    c = customers.select("customer_id")
    j = c.left_join(per, c.customer_id == per.customer_id)
    cols = {
        col: (j[col].fill_null(0) if col in zero else j[col]).cast("float64") for col, _ in pairs
    }
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


__all__ = ["MANUAL_IDS", "AumMeasure", "Batch", "EventMeasure", "ManualTag", "ModelTag",
           "RuleTag", "band_label", "plan"]  # fmt: skip
