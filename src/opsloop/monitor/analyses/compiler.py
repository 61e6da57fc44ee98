"""Analysis document → one Ibis expression (``visit_<Kind>``), never Python per event.

Each visitor receives the scoped tables and returns an unexecuted expression whose
(small, aggregated) result :mod:`.shape` turns into chart-ready JSON. Definitions
that the oracle tests re-implement independently are in each docstring.
"""

# visit_<Document> names mirror the document classes on purpose (dispatch by name).
# ruff: noqa: N802

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass
from typing import Any

import ibis

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer, scoped_customers
from opsloop.errors import InvalidInputError
from opsloop.monitor.analyses.base import (
    day_start,
    in_range,
    matches,
    number,
    period,
    periods_between,
    scoped_events,
    seconds_between,
    text,
)
from opsloop.monitor.analyses.model import (
    Attribution,
    Distribution,
    EventAnalysis,
    Funnel,
    Interval,
    Kpi,
    Ltv,
    PathAnalysis,
    Retention,
)

_STEP = {"day": ibis.interval(days=1), "week": ibis.interval(days=7)}


@dataclass(frozen=True)
class Tables:
    """The warehouse tables an analysis reads (``aum_monthly`` only for the AUM KPI)."""

    events: ibis.Table
    customers: ibis.Table
    aum_monthly: ibis.Table | None = None


def compile_analysis(doc: object, *, tables: Tables, principal: Principal) -> ibis.Table:
    """Dispatch to ``visit_<Document>``; an unknown document type is a named error."""
    visit = getattr(AnalysisCompiler(tables, principal), f"visit_{type(doc).__name__}", None)
    if visit is None:
        raise InvalidInputError(f"no compiler for {type(doc).__name__}", where="analysis.kind")
    result: ibis.Table = visit(doc)
    return result


class AnalysisCompiler:
    def __init__(self, tables: Tables, principal: Principal) -> None:
        self.t = tables
        self.p = principal

    def events(self, *, identified: bool = True) -> ibis.Table:
        return scoped_events(self.t.events, self.t.customers, self.p, identified=identified)

    # -- event analysis -------------------------------------------------------------------
    def visit_EventAnalysis(self, d: EventAnalysis) -> ibis.Table:
        """count: events; uniques: distinct customers; sum: Σ numeric property (nulls skip).

        Anonymous events count (for bank-wide callers) except in ``uniques``.
        """
        e = self.events(identified=d.measure == "uniques")
        e = e.filter(in_range(e, d.start, d.end), matches(e, d.event))
        keys: dict[str, Any] = {}
        if d.interval is not None:
            keys["period"] = period(e.ts, d.interval)
        if d.by is not None:
            keys["group"] = text(e, d.by)
        value: Any
        if d.measure == "count":
            value = e.count()
        elif d.measure == "uniques":
            value = e.customer_id.nunique()
        else:
            assert d.property is not None
            value = number(e, d.property).sum()
        if not keys:
            return e.aggregate(value=value)
        return e.group_by(**keys).aggregate(value=value).order_by(list(keys))

    # -- funnel -----------------------------------------------------------------------------
    def _first_step(self, e: ibis.Table, d: Funnel) -> ibis.Table:
        s = e.filter(matches(e, d.steps[0]), in_range(e, d.start, d.end))
        if d.by is None:  # only t0 is needed: an aggregate, no window sort over the events
            return s.group_by(cid=s.customer_id).aggregate(
                t0=s.ts.min(), grp=ibis.literal(None, type="string")
            )
        rn = ibis.row_number().over(group_by=s.customer_id, order_by=[s.ts, s.message_id])
        grp = text(s, d.by) if d.by else ibis.literal(None, type="string")
        s = s.mutate(rn=rn, grp=grp)
        return s.filter(s.rn == 0).select(cid=s.customer_id, t0=s.ts, grp=s.grp)

    def visit_Funnel(self, d: Funnel) -> ibis.Table:
        """Per group: customers reaching each step, and the median seconds to the last.

        A customer's first step-1 event in [start, end] at t0 opens the window
        [t0, t0 + window_days]. Loose: step k is the earliest step-k event strictly after
        step k-1's. Strict: take the customer's events matching any step (ordered by ts,
        message_id); steps 1..k must be the k consecutive ones starting at t0's event.
        """
        e = self.events()
        e = e.filter(in_range(e, d.start, d.end, extra_days=d.window_days))
        window = ibis.interval(days=d.window_days)
        k = len(d.steps)
        if d.order == "loose":
            cur = self._first_step(e, d)
            # Step i joins only the customers who reached step i-1 (inner joins shrink
            # the work step by step); the per-step times are then attached by customer.
            prev = cur.select(pc=cur.cid, w=cur.t0 + window, tp=cur.t0)
            for i in range(1, k):
                s = e.filter(matches(e, d.steps[i])).select(c=e.customer_id, ts=e.ts)
                hit = prev.join(s, [prev.pc == s.c, s.ts > prev.tp, s.ts <= prev.w])
                prev = hit.group_by(["pc", "w"]).aggregate(tp=hit.ts.min())
                got = prev.select(**{f"c{i}": prev.pc, f"t{i}": prev.tp})
                cur = cur.left_join(got, cur.cid == got[f"c{i}"]).drop(f"c{i}")
            reached = [cur[f"t{i}" if i else "t0"].notnull() for i in range(k)]
        else:
            any_step = functools.reduce(operator.or_, [matches(e, s) for s in d.steps])
            f = e.filter(any_step)
            f = f.mutate(
                pos=ibis.row_number().over(group_by=f.customer_id, order_by=[f.ts, f.message_id]),
                **{f"m{i}": matches(f, s) for i, s in enumerate(d.steps)},
            )
            first = f.filter(f.m0, in_range(f, d.start, d.end))
            r0 = first.group_by(rc=first.customer_id).aggregate(r0=first.pos.min())
            grp = text(f, d.by) if d.by else ibis.literal(None, type="string")
            a = f.join(r0, [f.customer_id == r0.rc, f.pos == r0.r0]).select(
                cid=f.customer_id, t0=f.ts, r0=r0.r0, grp=grp
            )
            g = f.select(
                c=f.customer_id, pos=f.pos, ts=f.ts, **{f"m{i}": f[f"m{i}"] for i in range(k)}
            )
            j = a.join(g, [a.cid == g.c, g.pos >= a.r0, g.pos < a.r0 + k])
            ok = {
                f"ok{i}": ((j.pos == j.r0 + i) & j[f"m{i}"] & (j.ts <= j.t0 + window)).any()
                for i in range(k)
            }
            times = {f"t{i}": j.ts.max(where=j.pos == j.r0 + i) for i in range(1, k)}
            cur = j.group_by(["cid", "t0", "grp"]).aggregate(**ok, **times)
            flags = [cur[f"ok{i}"] for i in range(k)]
            reached = [functools.reduce(operator.and_, flags[: i + 1]) for i in range(k)]
        last = cur[f"t{k - 1}"]
        secs = seconds_between(last, cur.t0)
        aggs: dict[str, Any] = {f"n{i}": reached[i].cast("int64").sum() for i in range(k)}
        # Null out, then take the median: the same as ``median(where=…)``, which Ibis
        # compiles on Spark into a non-constant percentage that Spark rejects.
        aggs["median_seconds"] = ibis.ifelse(reached[k - 1], secs, ibis.null()).median()
        return cur.group_by(group=cur.grp).aggregate(**aggs).order_by("group")

    # -- retention --------------------------------------------------------------------------
    def visit_Retention(self, d: Retention) -> ibis.Table:
        """Cohort = period of the customer's first initial event in range; retained in
        period n (0..periods) when a returning event falls n periods later."""
        e = self.events()
        # a return counts up to `periods` periods after the last cohort: bound the scan
        per_days = {"day": 1, "week": 7, "month": 31}[d.unit]
        e = e.filter(in_range(e, d.start, d.end, extra_days=per_days * (d.periods + 1)))
        first = e.filter(matches(e, d.initial), in_range(e, d.start, d.end))
        init = first.group_by(cid=first.customer_id).aggregate(t0=first.ts.min())
        init = init.mutate(cohort=period(init.t0, d.unit))
        r = e.filter(matches(e, d.returning))
        r = r.select(c=r.customer_id, rp=period(r.ts, d.unit)).distinct()
        j = init.join(r, init.cid == r.c)
        j = j.mutate(n=periods_between(j.rp, j.cohort, d.unit))
        j = j.filter(j.n >= 0, j.n <= d.periods)
        kept = j.group_by(["cohort", "n"]).aggregate(users=j.cid.nunique())
        size = init.group_by(c2=init.cohort).aggregate(size=init.count())
        out = size.left_join(kept, size.c2 == kept.cohort)
        return out.select(cohort=out.c2, size=out.size, n=out.n, users=out.users).order_by(
            ["cohort", "n"]
        )

    # -- distribution ----------------------------------------------------------------------
    def visit_Distribution(self, d: Distribution) -> ibis.Table:
        """Customers with at least one matching event, by bucket of their count or of the
        sum of the property (a missing or non-numeric value adds 0). Bucket i holds
        edges[i-1] <= v < edges[i] (bucket 0: v < edges[0]; last: v >= edges[-1])."""
        e = self.events()
        e = e.filter(in_range(e, d.start, d.end), matches(e, d.event))
        v = e.count() if d.measure == "frequency" else number(e, d.property or "").sum()
        per = e.group_by(cid=e.customer_id).aggregate(v=v)
        val = per.v.cast("float64").fill_null(0.0)
        bucket = functools.reduce(operator.add, [(val >= x).cast("int64") for x in d.edges])
        per = per.mutate(bucket=bucket, val=val)
        return (
            per.group_by("bucket")
            .aggregate(customers=per.count(), total=per.val.sum())
            .order_by("bucket")
        )

    # -- paths ------------------------------------------------------------------------------
    def visit_PathAnalysis(self, d: PathAnalysis) -> ibis.Table:
        """Customers by the ``depth`` events after (before) their first anchor event, all
        within [start, end], ordered by (ts, message_id); ``s1`` is the nearest."""
        e = self.events()
        e = e.filter(in_range(e, d.start, d.end))
        f = e.mutate(
            pos=ibis.row_number().over(group_by=e.customer_id, order_by=[e.ts, e.message_id]),
            hit=matches(e, d.anchor),
        )
        anchors = f.filter(f.hit)
        a = anchors.group_by(cid=anchors.customer_id).aggregate(r0=anchors.pos.min())
        g = f.select(c=f.customer_id, pos=f.pos, ev=f.event.cast("string"))
        sign = 1 if d.direction == "after" else -1
        lo, hi = (a.r0 + 1, a.r0 + d.depth) if sign > 0 else (a.r0 - d.depth, a.r0 - 1)
        j = a.left_join(g, [a.cid == g.c, g.pos >= lo, g.pos <= hi])
        steps = {f"s{i}": j.ev.max(where=j.pos == j.r0 + sign * i) for i in range(1, d.depth + 1)}
        per = j.group_by("cid").aggregate(**steps)
        cols = list(steps)
        return per.group_by(cols).aggregate(customers=per.count())

    # -- attribution ------------------------------------------------------------------------
    def visit_Attribution(self, d: Attribution) -> ibis.Table:
        """Each conversion event in range shares 1 credit among the same customer's touch
        events in [tc - lookback, tc) (ordered by ts, message_id): first, last, linear
        (1/n), time decay (2^(-age/half-life), normalised), position (40/20/40; 50/50
        for two). A conversion without touches credits the channel null ("(none)")."""
        e = self.events()
        lookback = ibis.interval(days=d.lookback_days)
        conv = e.filter(matches(e, d.conversion), in_range(e, d.start, d.end))
        conv = conv.select(conv_id=conv.message_id, cid=conv.customer_id, tc=conv.ts)
        early = d.start - dt.timedelta(days=d.lookback_days)
        touch = e.filter(e.event.isin(list(d.touches)), e.ts >= day_start(early))
        touch = touch.select(c=touch.customer_id, tt=touch.ts, tm=touch.message_id, ch=touch.event)
        j = conv.left_join(
            touch, [conv.cid == touch.c, touch.tt < conv.tc, touch.tt >= conv.tc - lookback]
        )
        w = ibis.window(group_by=j.conv_id)
        asc = ibis.window(group_by=j.conv_id, order_by=[j.tt, j.tm])
        desc = ibis.window(group_by=j.conv_id, order_by=[ibis.desc(j.tt), ibis.desc(j.tm)])
        n = j.tt.count().over(w)
        first = ibis.row_number().over(asc) == 0
        last = ibis.row_number().over(desc) == 0
        age_days = seconds_between(j.tc, j.tt) / 86400.0
        decay = (ibis.literal(2.0) ** (-age_days / d.half_life_days)).fill_null(0.0)
        j = j.mutate(n=n, first=first, last=last, decay=decay)
        j = j.mutate(decay_sum=j.decay.sum().over(w))
        nf = j.n.cast("float64")
        weight: Any = {
            "first": j["first"].cast("float64"),
            "last": j["last"].cast("float64"),
            "linear": 1.0 / nf,
            "time_decay": j.decay / j.decay_sum,
            "position": ibis.cases(
                (j.n == 1, 1.0),
                (j.n == 2, 0.5),
                ((j["first"] | j["last"]), 0.4),
                else_=0.2 / (nf - 2.0),
            ),
        }[d.model]
        weight = ibis.cases((j.n == 0, 1.0), else_=weight)
        j = j.mutate(weight=weight)
        return (
            j.group_by(channel=j.ch.cast("string"))
            .aggregate(credit=j.weight.sum(), conversions=j.conv_id.nunique())
            .order_by(ibis.desc("credit"))
        )

    # -- interval ---------------------------------------------------------------------------
    def visit_Interval(self, d: Interval) -> ibis.Table:
        """From each customer's first ``first`` event in range at t0 to their earliest
        ``then`` event strictly after t0 (within ``within_days`` if set): seconds."""
        e = self.events()
        a = e.filter(matches(e, d.first), in_range(e, d.start, d.end))
        a = a.group_by(cid=a.customer_id).aggregate(t0=a.ts.min())
        b = e.filter(matches(e, d.then)).select(c=e.customer_id, tb=e.ts)
        cond = [a.cid == b.c, b.tb > a.t0]
        if d.within_days is not None:
            cond.append(b.tb <= a.t0 + ibis.interval(days=d.within_days))
        per = a.left_join(b, cond).group_by(["cid", "t0"]).aggregate(t1=b.tb.min())
        secs = seconds_between(per.t1, per.t0)
        aggs: dict[str, Any] = {
            "started": per.count(),
            "n": secs.count(),
            "mean": secs.mean(),
            "min": secs.min(),
            "max": secs.max(),
        }
        for i, q in enumerate(d.percentiles):
            aggs[f"p{i}"] = secs.quantile(q)
        return per.aggregate(**aggs)

    # -- LTV ----------------------------------------------------------------------------------
    def visit_Ltv(self, d: Ltv) -> ibis.Table:
        """Cohort = month of the customer's first cohort event in range (t0); value = Σ
        property of value events at ts >= t0, by whole months from the cohort month."""
        e = self.events()
        c = e.filter(matches(e, d.cohort_event), in_range(e, d.start, d.end))
        c = c.group_by(cid=c.customer_id).aggregate(t0=c.ts.min())
        c = c.mutate(cohort=period(c.t0, "month"))
        v = e.filter(matches(e, d.value_event), e.ts >= day_start(d.start))
        v = v.select(c=v.customer_id, tv=v.ts, val=number(v, d.value_property))
        j = c.join(v, [c.cid == v.c, v.tv >= c.t0])
        j = j.mutate(n=periods_between(period(j.tv, "month"), j.cohort, "month"))
        j = j.filter(j.n <= d.months)
        per = j.group_by(["cohort", "n"]).aggregate(value=j.val.sum())
        size = c.group_by(c2=c.cohort).aggregate(size=c.count())
        out = size.left_join(per, size.c2 == per.cohort)
        return out.select(cohort=out.c2, size=out.size, n=out.n, value=out.value).order_by(
            ["cohort", "n"]
        )

    # -- KPIs ---------------------------------------------------------------------------------
    def visit_Kpi(self, d: Kpi) -> ibis.Table:
        return getattr(self, f"_kpi_{d.metric}")(d)  # type: ignore[no-any-return]

    def _ranged(self, d: Kpi, *, identified: bool = True) -> ibis.Table:
        e = self.events(identified=identified)
        return e.filter(in_range(e, d.start, d.end))

    def _uid(self, e: ibis.Table) -> Any:
        """A visitor: the customer when known, else the anonymous device id."""
        return ibis.coalesce("c" + e.customer_id.cast("string"), "a" + e.anonymous_id)

    def _kpi_mau(self, d: Kpi) -> ibis.Table:
        e = self._ranged(d)
        if d.event is not None:
            e = e.filter(matches(e, d.event))
        return (
            e.group_by(period=period(e.ts, d.interval))
            .aggregate(active=e.customer_id.nunique())
            .order_by("period")
        )

    def _kpi_aum(self, d: Kpi) -> ibis.Table:
        if self.t.aum_monthly is None:  # pragma: no cover - the service always passes it
            raise InvalidInputError("the AUM KPI needs aum_monthly", where="analysis.metric")
        a = scoped_by_customer(self.t.aum_monthly, self.t.customers, self.p)
        a = a.filter(a.month >= d.start, a.month <= d.end)
        return (
            a.group_by(period=a.month)
            .aggregate(aum=a.aum.sum(), customers=a.count())
            .order_by("period")
        )

    def _kpi_pv_uv_ctr(self, d: Kpi) -> ibis.Table:
        assert d.event is not None and d.target is not None
        e = self._ranged(d, identified=False)
        view, click = matches(e, d.event), matches(e, d.target)
        e = e.filter(view | click).mutate(is_view=view, is_click=click, uid=self._uid(e))
        return (
            e.group_by(period=period(e.ts, d.interval))
            .aggregate(
                pv=e.is_view.cast("int64").sum(),
                uv=e.uid.nunique(where=e.is_view),
                clicks=e.is_click.cast("int64").sum(),
            )
            .order_by("period")
        )

    def _kpi_bounce(self, d: Kpi) -> ibis.Table:
        e = self._ranged(d, identified=False)
        e = e.mutate(uid=self._uid(e), day=period(e.ts, "day"))
        visits = e.group_by(["uid", "day"]).aggregate(n=e.count())
        p = period(visits.day.cast("timestamp"), d.interval)
        return (
            visits.group_by(period=p)
            .aggregate(visits=visits.count(), bounces=(visits.n == 1).cast("int64").sum())
            .order_by("period")
        )

    def _kpi_conversion(self, d: Kpi) -> ibis.Table:
        assert d.event is not None and d.target is not None
        e = self._ranged(d)
        e = e.mutate(
            base=matches(e, d.event), goal=matches(e, d.target), p=period(e.ts, d.interval)
        )
        per = e.group_by(["customer_id", "p"]).aggregate(base=e.base.any(), goal=e.goal.any())
        return (
            per.group_by(period=per.p)
            .aggregate(
                base=per.base.cast("int64").sum(),
                converted=(per.base & per.goal).cast("int64").sum(),
            )
            .order_by("period")
        )

    def _kpi_activation(self, d: Kpi) -> ibis.Table:
        assert d.target is not None
        c = scoped_customers(self.t.customers, self.p)
        c = c.filter(c.opened_on >= d.start, c.opened_on <= d.end)
        e = self.events()
        e = e.filter(matches(e, d.target), e.ts >= day_start(d.start))
        e = e.select(c=e.customer_id, ts=e.ts)
        opened = c.opened_on.cast("timestamp")
        j = c.left_join(
            e,
            [
                c.customer_id == e.c,
                e.ts >= opened,
                e.ts < opened + ibis.interval(days=d.within_days),
            ],
        )
        per = j.group_by(cid=j.customer_id, opened=j.opened_on).aggregate(act=j.ts.count() > 0)
        return (
            per.group_by(period=period(per.opened.cast("timestamp"), d.interval))
            .aggregate(opened=per.count(), activated=per.act.cast("int64").sum())
            .order_by("period")
        )

    def _kpi_retention(self, d: Kpi) -> ibis.Table:
        e = self._ranged(d)
        if d.event is not None:
            e = e.filter(matches(e, d.event))
        a = e.select(cid=e.customer_id, p=period(e.ts, d.interval)).distinct()
        step = ibis.interval(months=1) if d.interval == "month" else _STEP[d.interval]
        b = a.select(c=a.cid, nxt=(a.p + step).cast("date"))
        both = a.join(b, [a.cid == b.c, a.p == b.nxt])
        kept = both.group_by("p").aggregate(retained=both.count())
        active = a.group_by(period=a.p).aggregate(active=a.count())
        prev = a.group_by(nxt=(a.p + step).cast("date")).aggregate(previous=a.count())
        out = active.left_join(kept, active.period == kept.p).left_join(
            prev, active.period == prev.nxt
        )
        return out.select("period", "active", "retained", "previous").order_by("period")

    def _survey(self, d: Kpi) -> ibis.Table:
        assert d.event is not None and d.score_property is not None
        e = self._ranged(d, identified=False)
        e = e.filter(matches(e, d.event))
        e = e.mutate(s=number(e, d.score_property)).filter(lambda t: t.s.notnull())
        return (
            e.group_by(period=period(e.ts, d.interval))
            .aggregate(
                n=e.count(),
                promoters=(e.s >= 9).cast("int64").sum(),
                detractors=(e.s <= 6).cast("int64").sum(),
                satisfied=(e.s >= 4).cast("int64").sum(),
                mean=e.s.mean(),
            )
            .order_by("period")
        )

    _kpi_nps = _survey
    _kpi_csat = _survey
    _kpi_ces = _survey
