"""Segment → one Ibis expression: a filter on ``customers``, never Python per customer.

:class:`SegmentCompiler` visits nodes by class name (``visit_<Node>``, as Ibis's SQL
compilers do) and returns a two-valued boolean over the customers table: attribute
comparisons are null-safe (unknown is false), and every other condition is a
``customer_id IN (aggregate subquery)`` semi-join. So ``not`` is exactly the
complement, the engine plans the semi-joins, and the same expression runs on any Ibis
backend. A node without a visitor raises :class:`UnsupportedNodeError`.

Time windows are half-open ``[end - last_days, end)`` where ``end`` is the start of
the day after ``as_of`` (a date), or ``as_of`` itself when it is a datetime.
"""

# visit_<NodeClass> names mirror the node classes on purpose (dispatch by name).
# ruff: noqa: N802

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.insight.segments.errors import (
    SegmentCycleError,
    UnknownSegmentError,
    UnsupportedNodeError,
)
from opsloop.insight.segments.model import (
    And,
    Attribute,
    Behaviour,
    EventStep,
    InSegment,
    Not,
    Or,
    RfmBand,
    SegmentDefinition,
    Sequence,
    Tag,
    TransactionAggregate,
    TxnFilter,
)

Resolver = Callable[[str], SegmentDefinition]
"""Looks up a saved segment by id; raises NotFoundError (or KeyError) when unknown."""

TAG_VALUES = "tag_values"
"""Warehouse table of tag runs: (tag, customer_id, value_bool, value_num, value_str, as_of);
written by :mod:`opsloop.insight.tags` (named here so segments need not import tags)."""

_SCOPE = re.compile(r"^/(?:[A-Za-z0-9_-]+/)+$")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def no_segments(segment_id: str) -> SegmentDefinition:
    """The default resolver: no saved segments to refer to."""
    raise NotFoundError(f"no saved segment {segment_id!r}")


def window_end(as_of: dt.date | dt.datetime) -> dt.datetime:
    """The exclusive end of every window: midnight after ``as_of``, or the datetime itself."""
    if isinstance(as_of, dt.datetime):
        return as_of
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def scope_customers(
    customers: ibis.Table, scope_prefix: str | None, principal: Principal | None = None
) -> ibis.Table:
    """``customers`` limited to an org subtree (辖内), inside the expression.

    ``principal`` applies the access layer's scope (subtree, and own customers for an
    RM); ``scope_prefix`` narrows further, e.g. a head-office user looking at one branch.
    """
    if principal is not None:
        customers = scoped_customers(customers, principal)
    if scope_prefix is None:
        return customers
    if not _SCOPE.match(scope_prefix):
        raise InvalidInputError(
            f"scope {scope_prefix!r} must be an org path like /HO/B07/", where="scope_prefix"
        )
    return customers.filter(customers.org_path.startswith(scope_prefix))


def compile_members(
    defn: SegmentDefinition,
    *,
    wh_tables: Mapping[str, ibis.Table],
    as_of: dt.date | dt.datetime,
    scope_prefix: str | None = None,
    resolve: Resolver = no_segments,
    principal: Principal | None = None,
) -> ibis.Table:
    """The segment's customers, all columns, as one unexecuted expression."""
    customers = scope_customers(wh_tables["customers"], scope_prefix, principal)
    compiler = SegmentCompiler(
        customers=customers, tables=wh_tables, as_of=as_of, resolve=resolve, root_id=defn.id
    )
    return customers.filter(compiler.compile(defn.root, "root"))


def compile_segment(
    defn: SegmentDefinition,
    *,
    wh_tables: Mapping[str, ibis.Table],
    as_of: dt.date | dt.datetime,
    scope_prefix: str | None = None,
    resolve: Resolver = no_segments,
    principal: Principal | None = None,
) -> ibis.Table:
    """The segment's customer ids as one Ibis expression (nothing is executed).

    Args:
        wh_tables: ``customers`` plus, when the tree needs them, ``transactions``/``events``.
        as_of: the day the windows end on (inclusive).
        scope_prefix: the caller's org path; customers outside it are filtered in the query.
        resolve: finds saved segments for ``in_segment`` conditions.
        principal: the caller; their data scope (``access.scope``) is applied in the query.
    """
    members = compile_members(
        defn,
        wh_tables=wh_tables,
        as_of=as_of,
        scope_prefix=scope_prefix,
        resolve=resolve,
        principal=principal,
    )
    return members.select("customer_id")


class SegmentCompiler:
    """Turns condition nodes into boolean expressions over one customers table."""

    def __init__(
        self,
        *,
        customers: ibis.Table,
        tables: Mapping[str, ibis.Table],
        as_of: dt.date | dt.datetime,
        resolve: Resolver = no_segments,
        root_id: str | None = None,
    ) -> None:
        self.c = customers
        self.tables = tables
        self.end = window_end(as_of)
        self.resolve = resolve
        self._expanding: list[str] = [root_id] if root_id else []

    def compile(self, node: object, where: str) -> ir.BooleanValue:
        """Dispatch to ``visit_<NodeClass>``; ``where`` is the node's JSON path for errors."""
        visit = getattr(self, f"visit_{type(node).__name__}", None)
        if visit is None:
            raise UnsupportedNodeError(f"no compiler for {type(node).__name__} nodes", where=where)
        result: ir.BooleanValue = visit(node, where)
        return result

    # -- boolean structure -------------------------------------------------------------
    def visit_And(self, node: And, where: str) -> ir.BooleanValue:
        parts = [self.compile(ch, f"{where}.children[{i}]") for i, ch in enumerate(node.children)]
        return functools.reduce(operator.and_, parts)

    def visit_Or(self, node: Or, where: str) -> ir.BooleanValue:
        parts = [self.compile(ch, f"{where}.children[{i}]") for i, ch in enumerate(node.children)]
        return functools.reduce(operator.or_, parts)

    def visit_Not(self, node: Not, where: str) -> ir.BooleanValue:
        return ~self.compile(node.child, f"{where}.child")

    # -- conditions ----------------------------------------------------------------------
    def visit_Attribute(self, node: Attribute, where: str) -> ir.BooleanValue:
        col: Any = self.c[node.field]
        op, value = node.op, node.value
        pred: Any
        if op == "is_null":
            return col.isnull()  # type: ignore[no-any-return]
        if op == "is_not_null":
            return col.notnull()  # type: ignore[no-any-return]
        if op in _COMPARE:
            pred = _COMPARE[op](col, ibis.literal(value))
        elif op == "in":
            pred = col.isin(list(_items(value)))
        elif op == "not_in":
            pred = col.notin(list(_items(value)))
        elif op == "between":
            low, high = _items(value)
            pred = col.between(low, high)
        elif op == "starts_with":
            pred = col.startswith(value)
        else:  # pragma: no cover - the model's Literal keeps this out
            raise UnsupportedNodeError(f"attribute operator {op!r}", where=f"{where}.op")
        return pred.fill_null(False)  # type: ignore[no-any-return]

    def visit_TransactionAggregate(self, node: TransactionAggregate, where: str) -> ir.BooleanValue:
        t = self._transactions(node.where, node.last_days)
        measure = {
            "count": lambda: t.count(),
            "sum": lambda: t.amount.sum(),
            "avg": lambda: t.amount.mean(),
            "max": lambda: t.amount.max(),
        }[node.agg]()
        per = t.group_by("customer_id").aggregate(v=measure)
        zero = 0.0 if node.agg in ("count", "sum") else None
        return self._per_customer(per, node.op, node.value, zero)

    def visit_Behaviour(self, node: Behaviour, where: str) -> ir.BooleanValue:
        e = self._events(node.step, node.last_days)
        per = e.group_by("customer_id").aggregate(v=e.count())
        return self._per_customer(per, node.op, node.count, 0)

    def visit_Sequence(self, node: Sequence, where: str) -> ir.BooleanValue:
        first = self._events(node.first, node.last_days)
        then = self._events(node.then, node.last_days)
        a = first.select(cid=first.customer_id, ta=first.ts)
        b = then.select(cid_b=then.customer_id, tb=then.ts)
        gap = ibis.interval(**{node.unit: node.within})
        pairs = a.join(b, [a.cid == b.cid_b, a.ta < b.tb, b.tb <= a.ta + gap])
        return self.c.customer_id.isin(pairs.cid)

    def visit_InSegment(self, node: InSegment, where: str) -> ir.BooleanValue:
        sid = node.segment_id
        if sid in self._expanding:
            chain = " → ".join([*self._expanding, sid])
            raise SegmentCycleError(f"segments refer to each other: {chain}", where=where)
        try:
            defn = self.resolve(sid)
        except (NotFoundError, KeyError) as exc:
            raise UnknownSegmentError(f"no saved segment {sid!r}", where=where) from exc
        self._expanding.append(sid)
        try:
            return self.compile(defn.root, f"{where}/{sid}:root")
        finally:
            self._expanding.pop()

    def visit_RfmBand(self, node: RfmBand, where: str) -> ir.BooleanValue:
        t = self._transactions(node.where, node.last_days)
        per = t.group_by("customer_id").aggregate(
            recency=t.ts.max(), frequency=t.count(), monetary=t.amount.sum()
        )
        n = per.count()
        bands = {
            m: rng
            for m, rng in (
                ("recency", node.recency),
                ("frequency", node.frequency),
                ("monetary", node.monetary),
            )
            if rng is not None
        }
        # k = customers whose value is <= mine = n - (customers strictly above me).
        scored = per.mutate(
            **{
                f"{m}_score": (5 * (n - ibis.rank().over(order_by=ibis.desc(per[m]))) + n - 1) // n
                for m in bands
            }
        )
        keep = [scored[f"{m}_score"].between(low, high) for m, (low, high) in bands.items()]
        return self.c.customer_id.isin(scored.filter(*keep).customer_id)

    def visit_Tag(self, node: Tag, where: str) -> ir.BooleanValue:
        run = self._tag_run(node.tag, where)
        value = node.value
        if node.op == "has_value":
            return self.c.customer_id.isin(run.customer_id)
        items = value if isinstance(value, tuple) else (value,)
        col: Any = (
            run.value_bool
            if isinstance(items[0], bool)
            else run.value_str
            if isinstance(items[0], str)
            else run.value_num
        )
        if node.op == "in":
            hit = col.isin(list(items))
        elif node.op == "not_in":
            hit = col.notin(list(items))
        else:
            hit = _COMPARE[node.op](col, ibis.literal(value))
        return self.c.customer_id.isin(run.filter(hit.fill_null(False)).customer_id)

    # -- helpers -------------------------------------------------------------------------
    def _tag_run(self, tag: str, where: str) -> ibis.Table:
        """The tag's values from its latest run on or before the day of ``as_of``."""
        try:
            tv = self.tables[TAG_VALUES]
        except (NotFoundError, KeyError) as exc:
            msg = "no tag values in the warehouse yet: run `opsloop tag run` first"
            raise InvalidInputError(msg, where=f"{where}.tag") from exc
        last_day = (self.end - dt.timedelta(microseconds=1)).date()
        mine = tv.filter(tv.tag == tag)
        latest = mine.filter(mine.as_of <= ibis.literal(last_day)).as_of.max().as_scalar()
        return mine.filter(mine.as_of == latest)

    def _per_customer(
        self, per: ibis.Table, op: str, value: float, zero: float | None
    ) -> ir.BooleanValue:
        """``per.v op value``; customers absent from ``per`` count as ``zero`` (if given)."""
        hit = _COMPARE[op](per.v, value)
        if zero is not None and _COMPARE[op](zero, value):
            return ~self.c.customer_id.isin(per.filter(~hit).customer_id)
        return self.c.customer_id.isin(per.filter(hit).customer_id)

    def _window(self, table: ibis.Table, last_days: int) -> ibis.Table:
        start = self.end - dt.timedelta(days=last_days)
        ts = table.ts
        return table.filter(
            ts >= ibis.literal(start, type="timestamp"), ts < ibis.literal(self.end, "timestamp")
        )

    def _transactions(self, where: TxnFilter, last_days: int) -> ibis.Table:
        t = self._window(self.tables["transactions"], last_days)
        if where.direction is not None:
            t = t.filter(t.direction == where.direction)
        if where.kinds:
            t = t.filter(t.kind.isin(list(where.kinds)))
        if where.channels:
            t = t.filter(t.channel.isin(list(where.channels)))
        return t

    def _events(self, step: EventStep, last_days: int) -> ibis.Table:
        e = self._window(self.tables["events"], last_days)
        e = e.filter(e.event == step.event, e.customer_id.notnull())
        for key, value in step.properties.items():
            prop: Any = e.properties.cast("json")[key]
            typed = (
                prop.bool
                if isinstance(value, bool)
                else prop.int
                if isinstance(value, int)
                else prop.str
            )
            e = e.filter((typed == value).fill_null(False))
        return e


def _items(value: object) -> tuple[Any, ...]:
    assert isinstance(value, tuple)
    return value
