"""Every analysis model against an independent brute-force pandas oracle.

Hypothesis varies the events (names, times with ties, properties, anonymous rows), the
caller's scope and the parameters; the oracle re-implements each definition of
docs/analyses.md in plain Python loops over one customer at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.access.principal import Principal
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.warehouse import Warehouse

EVENTS = ("a", "b", "c", "d")
DAY0 = dt.datetime(2024, 1, 1)
BANK = Principal(id="hq", kind="user", org_path="/HO/")
BRANCH = Principal(id="b1", kind="user", org_path="/HO/B1/")
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def wh() -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    yield w
    w.close()


def make_data(seed: int, n_events: int, n_customers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    r = np.random.default_rng(seed)
    cust = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_customers + 1, dtype=np.int64),
            "org_path": ["/HO/B1/" if i % 2 else "/HO/B2/B2S1/" for i in range(n_customers)],
            "rm_id": pd.Series([None] * n_customers, dtype="object"),
            "opened_on": [
                DAY0.date() + dt.timedelta(days=int(x)) for x in r.integers(0, 10, n_customers)
            ],
        }
    )
    # seconds on a coarse grid so ties happen; spread over ~3 months for month periods
    secs = r.integers(0, 90 * 24, n_events) * 3600 // int(r.integers(1, 4))
    cid = r.integers(1, n_customers + 2, n_events)  # n_customers + 1 = anonymous
    props = [
        {
            "src": str(r.choice(["p", "q"])),
            "amount": int(r.integers(0, 50)),
            "score": int(r.integers(0, 11)),
        }
        for _ in range(n_events)
    ]
    for p in props:
        if r.random() < 0.1:
            del p["amount"]
    ev = pd.DataFrame(
        {
            "message_id": [f"m{i:04d}" for i in range(n_events)],
            "ts": [DAY0 + dt.timedelta(seconds=int(s)) for s in secs],
            "event": [EVENTS[i] for i in r.integers(0, len(EVENTS), n_events)],
            "customer_id": pd.array(
                [None if c > n_customers else int(c) for c in cid], dtype="Int64"
            ),
            "anonymous_id": [f"dev{c}" for c in cid],
            "platform": "ios",
            "properties": [json.dumps(p) for p in props],
        }
    )
    ev["props"] = props
    return ev, cust


def load(wh: Warehouse, ev: pd.DataFrame, cust: pd.DataFrame) -> None:
    events = pa.table(
        {
            "message_id": pa.array(list(ev.message_id), pa.string()),
            "ts": pa.array(list(ev.ts), pa.timestamp("us")),
            "event": pa.array(list(ev.event), pa.string()),
            "customer_id": pa.array(
                [None if pd.isna(c) else int(c) for c in ev.customer_id], pa.int64()
            ),
            "anonymous_id": pa.array(list(ev.anonymous_id), pa.string()),
            "platform": pa.array(["ios"] * len(ev), pa.string()),
            "properties": pa.array(list(ev.properties), pa.string()),
        }
    )
    customers = pa.Table.from_pandas(cust, preserve_index=False).set_column(
        2, "rm_id", pa.array([None] * len(cust), pa.string())
    )
    wh.con.create_table("events", events, overwrite=True)
    wh.con.create_table("customers", customers, overwrite=True)


def visible(
    ev: pd.DataFrame, cust: pd.DataFrame, who: Principal, *, identified: bool = True
) -> pd.DataFrame:
    if who.bank_wide:
        return ev[ev.customer_id.notna()] if identified else ev
    ids = set(cust.customer_id[cust.org_path.str.startswith(who.org_path)])
    return ev[ev.customer_id.isin(ids)]


def ordered(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.sort_values(["customer_id", "ts", "message_id"])


def match(row: Any, f: dict[str, Any]) -> bool:
    props = row.props
    return bool(
        row.event == f["event"]
        and all(props.get(k) == v for k, v in f.get("properties", {}).items())
    )


def rng_(start: int, end: int, extra: int = 0) -> tuple[dt.datetime, dt.datetime]:
    return DAY0 + dt.timedelta(days=start), DAY0 + dt.timedelta(days=end + 1 + extra)


def per_start(ts: dt.datetime, unit: str) -> dt.date:
    d = ts.date()
    if unit == "week":
        return d - dt.timedelta(days=d.weekday())
    if unit == "month":
        return d.replace(day=1)
    return d


def n_between(later: dt.date, earlier: dt.date, unit: str) -> int:
    if unit == "month":
        return (later.year - earlier.year) * 12 + later.month - earlier.month
    days = (later - earlier).days
    return days // 7 if unit == "week" else days


def run(wh: Warehouse, doc: dict[str, Any], who: Principal) -> dict[str, Any]:
    return run_analysis(wh=wh, doc=validate_analysis(doc), principal=who)


def iso(day: int) -> str:
    return (DAY0 + dt.timedelta(days=day)).date().isoformat()


step_st = st.builds(
    lambda e, p: {"event": e, **({"properties": {"src": p}} if p else {})},
    st.sampled_from(EVENTS),
    st.sampled_from([None, None, "p", "q"]),
)
data_st = st.tuples(st.integers(0, 10_000), st.integers(0, 160), st.integers(1, 12))
who_st = st.sampled_from([BANK, BRANCH])
days_st = st.tuples(st.integers(0, 40), st.integers(0, 50)).map(lambda t: (t[0], t[0] + t[1]))


# -- funnel -------------------------------------------------------------------------------
def oracle_funnel(
    ev: pd.DataFrame,
    steps: list[dict[str, Any]],
    s: int,
    e: int,
    w: int,
    order: str,
    by: str | None,
) -> dict[Any, tuple[list[int], float | None]]:
    lo, hi = rng_(s, e)
    window = dt.timedelta(days=w)
    counts: dict[Any, list[int]] = defaultdict(lambda: [0] * len(steps))
    times: dict[Any, list[float]] = defaultdict(list)
    for _, rows in ordered(ev).groupby("customer_id"):
        rows = list(rows.itertuples())
        starts = [i for i, r in enumerate(rows) if match(r, steps[0]) and lo <= r.ts < hi]
        if not starts:
            continue
        i0 = starts[0]
        t0 = rows[i0].ts
        group = rows[i0].props.get(by) if by else None
        group = group if isinstance(group, str) else None
        reached = [t0]
        if order == "loose":
            prev = t0
            for k in range(1, len(steps)):
                nxt = [r.ts for r in rows if match(r, steps[k]) and prev < r.ts <= t0 + window]
                if not nxt:
                    break
                prev = min(nxt)
                reached.append(prev)
        else:
            seq = [r for r in rows if any(match(r, x) for x in steps)]
            j0 = next(j for j, r in enumerate(seq) if r.message_id == rows[i0].message_id)
            for k in range(1, len(steps)):
                if j0 + k >= len(seq):
                    break
                r = seq[j0 + k]
                if not (match(r, steps[k]) and r.ts <= t0 + window):
                    break
                reached.append(r.ts)
        for k in range(len(reached)):
            counts[group][k] += 1
        if len(reached) == len(steps):
            times[group].append((reached[-1] - t0).total_seconds())
    return {g: (c, float(np.median(times[g])) if times[g] else None) for g, c in counts.items()}


@SETTINGS
@given(
    data=data_st,
    who=who_st,
    steps=st.lists(step_st, min_size=2, max_size=4),
    days=days_st,
    window=st.integers(1, 10),
    order=st.sampled_from(["loose", "strict"]),
    by=st.sampled_from([None, "src"]),
)
def test_funnel(
    wh: Warehouse,
    data: Any,
    who: Principal,
    steps: Any,
    days: Any,
    window: int,
    order: str,
    by: Any,
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "funnel",
        "steps": steps,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "window_days": window,
        "order": order,
        "by": by,
    }
    got = run(wh, doc, who)["groups"]
    want = oracle_funnel(visible(ev, cust, who), steps, *days, window, order, by)
    assert {g["group"] for g in got} == set(want)
    for g in got:
        counts, median = want[g["group"]]
        assert [s["customers"] for s in g["steps"]] == counts
        if median is None:
            assert g["median_seconds"] is None
        else:
            assert g["median_seconds"] == pytest.approx(median)


def test_funnel_strict_differs_from_loose(wh: Warehouse) -> None:
    """a, c, b: loose reaches b; strict does not, because c (a funnel step) came between."""
    ev = pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m3"],
            "ts": [DAY0, DAY0 + dt.timedelta(hours=1), DAY0 + dt.timedelta(hours=2)],
            "event": ["a", "c", "b"],
            "customer_id": pd.array([1, 1, 1], dtype="Int64"),
            "anonymous_id": "x",
            "platform": "ios",
            "properties": "{}",
        }
    )
    ev["props"] = [{}] * 3
    _, cust = make_data(0, 1, 1)
    load(wh, ev, cust)
    base = {
        "kind": "funnel",
        "steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}],
        "start": iso(0),
        "end": iso(0),
    }
    loose = run(wh, base, BANK)["groups"][0]["steps"]
    strict = run(wh, {**base, "order": "strict"}, BANK)["groups"][0]["steps"]
    assert [s["customers"] for s in loose] == [1, 1, 0]
    assert [s["customers"] for s in strict] == [1, 0, 0]


# -- retention, LTV -------------------------------------------------------------------------
@SETTINGS
@given(
    data=data_st,
    who=who_st,
    a=step_st,
    b=step_st,
    days=days_st,
    unit=st.sampled_from(["day", "week", "month"]),
    periods=st.integers(1, 6),
)
def test_retention(
    wh: Warehouse, data: Any, who: Principal, a: Any, b: Any, days: Any, unit: str, periods: int
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "retention",
        "initial": a,
        "returning": b,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "unit": unit,
        "periods": periods,
    }
    got = {c["cohort"]: (c["size"], c["retained"]) for c in run(wh, doc, who)["cohorts"]}
    lo, hi = rng_(*days)
    want: dict[str, list[Any]] = {}
    for _, rows in ordered(visible(ev, cust, who)).groupby("customer_id"):
        rows = list(rows.itertuples())
        first = [r.ts for r in rows if match(r, a) and lo <= r.ts < hi]
        if not first:
            continue
        cohort = per_start(first[0], unit)
        entry = want.setdefault(cohort.isoformat(), [0, [0] * (periods + 1)])
        entry[0] += 1
        back = {
            n_between(per_start(r.ts, unit), cohort, unit)
            for r in rows
            if match(r, b) and r.ts >= lo
        }
        for n in back:
            if 0 <= n <= periods:
                entry[1][n] += 1
    assert got == {k: (v[0], v[1]) for k, v in want.items()}


@SETTINGS
@given(data=data_st, who=who_st, a=step_st, v=step_st, days=days_st, months=st.integers(1, 3))
def test_ltv(
    wh: Warehouse, data: Any, who: Principal, a: Any, v: Any, days: Any, months: int
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "ltv",
        "cohort_event": a,
        "value_event": v,
        "value_property": "amount",
        "start": iso(days[0]),
        "end": iso(days[1]),
        "months": months,
    }
    got = {c["cohort"]: (c["size"], c["value"]) for c in run(wh, doc, who)["cohorts"]}
    lo, hi = rng_(*days)
    want: dict[str, list[Any]] = {}
    for _, rows in ordered(visible(ev, cust, who)).groupby("customer_id"):
        rows = list(rows.itertuples())
        first = [r.ts for r in rows if match(r, a) and lo <= r.ts < hi]
        if not first:
            continue
        t0 = first[0]
        cohort = per_start(t0, "month")
        entry = want.setdefault(cohort.isoformat(), [0, [0.0] * (months + 1)])
        entry[0] += 1
        for r in rows:
            n = n_between(per_start(r.ts, "month"), cohort, "month")
            if match(r, v) and r.ts >= t0 and n <= months and "amount" in r.props:
                for m in range(n, months + 1):
                    entry[1][m] += r.props["amount"]
    assert got.keys() == want.keys()
    for k, (size, vals) in got.items():
        assert size == want[k][0]
        assert vals == pytest.approx(want[k][1])


# -- event analysis, distribution, interval -------------------------------------------------
@SETTINGS
@given(
    data=data_st,
    who=who_st,
    f=step_st,
    days=days_st,
    measure=st.sampled_from(["count", "uniques", "sum"]),
    interval=st.sampled_from([None, "day", "week", "month"]),
    by=st.sampled_from([None, "src"]),
)
def test_event_analysis(
    wh: Warehouse,
    data: Any,
    who: Principal,
    f: Any,
    days: Any,
    measure: str,
    interval: Any,
    by: Any,
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "event",
        "event": f,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "measure": measure,
        "interval": interval,
        "by": by,
        "property": "amount" if measure == "sum" else None,
    }
    rows = run(wh, doc, who)["rows"]
    lo, hi = rng_(*days)
    acc: dict[tuple[Any, Any], Any] = defaultdict(list)
    for r in visible(ev, cust, who, identified=measure == "uniques").itertuples():
        if match(r, f) and lo <= r.ts < hi:
            key = (
                per_start(r.ts, interval).isoformat() if interval else None,
                r.props.get(by) if by else None,
            )
            acc[key].append(r)
    want: dict[tuple[Any, Any], Any] = {}
    for key, rs in acc.items():
        if measure == "count":
            want[key] = len(rs)
        elif measure == "uniques":
            want[key] = len({r.customer_id for r in rs})
        else:
            vals = [r.props["amount"] for r in rs if "amount" in r.props]
            want[key] = float(sum(vals)) if vals else None
    got = {(r.get("period"), r.get("group")): r["value"] for r in rows}
    if not interval and not by:
        got = {k: v for k, v in got.items() if not (measure != "sum" and v == 0 and not acc)}
        if not acc:
            got = {k: v for k, v in got.items() if v not in (0, None)}
    assert got == want


@SETTINGS
@given(
    data=data_st,
    who=who_st,
    f=step_st,
    days=days_st,
    measure=st.sampled_from(["frequency", "amount"]),
    edges=st.lists(st.integers(0, 60), min_size=1, max_size=4, unique=True).map(sorted),
)
def test_distribution(
    wh: Warehouse, data: Any, who: Principal, f: Any, days: Any, measure: str, edges: Any
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "distribution",
        "event": f,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "measure": measure,
        "property": "amount",
        "edges": edges,
    }
    got = [b["customers"] for b in run(wh, doc, who)["buckets"]]
    lo, hi = rng_(*days)
    per: Counter[Any] = Counter()
    seen = set()
    for r in visible(ev, cust, who).itertuples():
        if match(r, f) and lo <= r.ts < hi:
            seen.add(r.customer_id)
            per[r.customer_id] += 1 if measure == "frequency" else r.props.get("amount", 0)
    want = [0] * (len(edges) + 1)
    for c in seen:
        want[sum(per[c] >= x for x in edges)] += 1
    assert got == want


@SETTINGS
@given(
    data=data_st,
    who=who_st,
    a=step_st,
    b=step_st,
    days=days_st,
    within=st.sampled_from([None, 1, 5]),
)
def test_interval(
    wh: Warehouse, data: Any, who: Principal, a: Any, b: Any, days: Any, within: Any
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    ps = [0.1, 0.5, 0.9]
    doc = {
        "kind": "interval",
        "first": a,
        "then": b,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "within_days": within,
        "percentiles": ps,
    }
    got = run(wh, doc, who)
    lo, hi = rng_(*days)
    started, secs = 0, []
    for _, rows in ordered(visible(ev, cust, who)).groupby("customer_id"):
        rows = list(rows.itertuples())
        first = [r.ts for r in rows if match(r, a) and lo <= r.ts < hi]
        if not first:
            continue
        started += 1
        t0 = first[0]
        lim = t0 + dt.timedelta(days=within) if within else dt.datetime.max
        nxt = [r.ts for r in rows if match(r, b) and t0 < r.ts <= lim]
        if nxt:
            secs.append((min(nxt) - t0).total_seconds())
    assert got["started"] == started and got["n"] == len(secs)
    for p, q in zip(ps, got["percentiles"], strict=True):
        if secs:
            assert q["seconds"] == pytest.approx(float(np.percentile(secs, p * 100)))
        else:
            assert q["seconds"] is None


# -- paths, attribution ---------------------------------------------------------------------
@SETTINGS
@given(
    data=data_st,
    who=who_st,
    a=step_st,
    days=days_st,
    direction=st.sampled_from(["after", "before"]),
    depth=st.integers(1, 3),
)
def test_paths(
    wh: Warehouse, data: Any, who: Principal, a: Any, days: Any, direction: str, depth: int
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "path",
        "anchor": a,
        "start": iso(days[0]),
        "end": iso(days[1]),
        "direction": direction,
        "depth": depth,
        "top": 500,
    }
    out = run(wh, doc, who)
    got = Counter({tuple(p["path"]): p["customers"] for p in out["paths"]})
    lo, hi = rng_(*days)
    want: Counter[tuple[str, ...]] = Counter()
    for _, rows in ordered(visible(ev, cust, who)).groupby("customer_id"):
        rows = [r for r in rows.itertuples() if lo <= r.ts < hi]
        idx = [i for i, r in enumerate(rows) if match(r, a)]
        if not idx:
            continue
        i = idx[0]
        near = (
            rows[i + 1 : i + 1 + depth]
            if direction == "after"
            else rows[max(0, i - depth) : i][::-1]
        )
        want[(a["event"], *[r.event for r in near])] += 1
    assert got == want
    # Sankey links out of the anchor add up to the customers with at least one step
    first_links = sum(
        link["value"]
        for link in out["links"]
        if link["source"] == f"0:{a['event']}" or link["target"] == f"0:{a['event']}"
    )
    assert first_links == sum(n for p, n in want.items() if len(p) > 1)


@SETTINGS
@given(
    data=data_st,
    who=who_st,
    conv=step_st,
    days=days_st,
    touches=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=3, unique=True),
    model=st.sampled_from(["first", "last", "linear", "time_decay", "position"]),
    lookback=st.integers(1, 10),
)
def test_attribution(
    wh: Warehouse,
    data: Any,
    who: Principal,
    conv: Any,
    days: Any,
    touches: Any,
    model: str,
    lookback: int,
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    doc = {
        "kind": "attribution",
        "conversion": conv,
        "touches": touches,
        "model": model,
        "lookback_days": lookback,
        "half_life_days": 2.0,
        "start": iso(days[0]),
        "end": iso(days[1]),
    }
    out = run(wh, doc, who)
    got = {c["channel"]: c["credit"] for c in out["channels"]}
    lo, hi = rng_(*days)
    want: dict[str, float] = defaultdict(float)
    for _, rows in ordered(visible(ev, cust, who)).groupby("customer_id"):
        rows = list(rows.itertuples())
        for c in rows:
            if not (match(c, conv) and lo <= c.ts < hi):
                continue
            tp = [
                t
                for t in rows
                if t.event in touches and c.ts - dt.timedelta(days=lookback) <= t.ts < c.ts
            ]
            n = len(tp)
            if n == 0:
                want["(none)"] += 1.0
                continue
            if model == "first":
                w = [1.0] + [0.0] * (n - 1)
            elif model == "last":
                w = [0.0] * (n - 1) + [1.0]
            elif model == "linear":
                w = [1.0 / n] * n
            elif model == "time_decay":
                raw = [0.5 ** ((c.ts - t.ts).total_seconds() / 86400 / 2.0) for t in tp]
                w = [x / sum(raw) for x in raw]
            else:
                w = (
                    [1.0]
                    if n == 1
                    else [0.5, 0.5]
                    if n == 2
                    else [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
                )
            for t, x in zip(tp, w, strict=True):
                want[t.event] += x
    want = {k: v for k, v in want.items() if v > 0 or k in got}
    got = {k: v for k, v in got.items() if v > 0 or k in want}
    assert got.keys() == want.keys()
    for k in got:
        assert got[k] == pytest.approx(want[k], abs=1e-9)
    assert out["total_conversions"] == pytest.approx(sum(want.values()))


# -- KPIs -----------------------------------------------------------------------------------
@SETTINGS
@given(
    data=data_st,
    who=who_st,
    a=step_st,
    b=step_st,
    days=days_st,
    interval=st.sampled_from(["day", "week", "month"]),
)
def test_kpis(
    wh: Warehouse, data: Any, who: Principal, a: Any, b: Any, days: Any, interval: str
) -> None:
    ev, cust = make_data(*data)
    load(wh, ev, cust)
    base = {"kind": "kpi", "start": iso(days[0]), "end": iso(days[1]), "interval": interval}
    lo, hi = rng_(*days)
    ident = visible(ev, cust, who)
    ident = ident[(ident.ts >= lo) & (ident.ts < hi)]
    every = visible(ev, cust, who, identified=False)
    every = every[(every.ts >= lo) & (every.ts < hi)]
    key = lambda r: per_start(r.ts, interval).isoformat()  # noqa: E731
    uid = lambda r: f"c{r.customer_id}" if not pd.isna(r.customer_id) else f"a{r.anonymous_id}"  # noqa: E731

    mau = {r["period"]: r["active"] for r in run(wh, {**base, "metric": "mau"}, who)["rows"]}
    want_mau: dict[str, set[Any]] = defaultdict(set)
    for r in ident.itertuples():
        want_mau[key(r)].add(r.customer_id)
    assert mau == {k: len(v) for k, v in want_mau.items()}

    pv = run(wh, {**base, "metric": "pv_uv_ctr", "event": a, "target": b}, who)["rows"]
    want_pv: dict[str, list[Any]] = defaultdict(lambda: [0, set(), 0])
    for r in every.itertuples():
        if match(r, a):
            want_pv[key(r)][0] += 1
            want_pv[key(r)][1].add(uid(r))
        if match(r, b):
            want_pv[key(r)][2] += 1
    assert {r["period"]: (r["pv"], r["uv"], r["clicks"]) for r in pv} == {
        k: (v[0], len(v[1]), v[2]) for k, v in want_pv.items()
    }

    bounce = run(wh, {**base, "metric": "bounce"}, who)["rows"]
    visits = Counter((uid(r), r.ts.date()) for r in every.itertuples())
    want_b: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_, day), n in visits.items():
        k = per_start(dt.datetime.combine(day, dt.time()), interval).isoformat()
        want_b[k][0] += 1
        want_b[k][1] += n == 1
    assert {r["period"]: [r["visits"], r["bounces"]] for r in bounce} == dict(want_b)

    nps = run(wh, {**base, "metric": "nps", "event": a, "score_property": "score"}, who)["rows"]
    scores: dict[str, list[int]] = defaultdict(list)
    for r in every.itertuples():
        if match(r, a):
            scores[key(r)].append(r.props["score"])
    want_nps = {
        k: 100.0 * (sum(s >= 9 for s in v) - sum(s <= 6 for s in v)) / len(v)
        for k, v in scores.items()
    }
    assert {r["period"]: r["value"] for r in nps} == pytest.approx(want_nps)

    ret = run(wh, {**base, "metric": "retention"}, who)["rows"]
    active: dict[dt.date, set[Any]] = defaultdict(set)
    for r in ident.itertuples():
        active[per_start(r.ts, interval)].add(r.customer_id)
    for row in ret:
        p = dt.date.fromisoformat(row["period"])
        prev_p = (
            (p.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
            if interval == "month"
            else p - dt.timedelta(days=7 if interval == "week" else 1)
        )
        prev = active.get(prev_p, set())
        assert row["active"] == len(active[p])
        assert row["retained"] == len(active[p] & prev)
        assert row["previous"] == (len(prev) or None)
    assert not math.isnan(len(ret))
