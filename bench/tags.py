"""Benchmark: computing 50 tags (rule, statistic, model) for every customer of a bank.

opsloop's path — :func:`opsloop.insight.tags.compute.plan` (one Ibis query per source)
and :func:`opsloop.insight.tags.write.write_day` (in-engine insert of one day's history)
— against a baseline: the same 50 tags hand-written as plain DuckDB SQL (one CTE per
source, ``FILTER`` aggregates, one wide table, one unpivoting insert). Both write one
row per customer and tag with a value; the bench checks that they agree tag by tag
(rows, trues, per-label counts, rounded sums) before it reports times.

The bank is read from a generated warehouse (``--warehouse``, attached read-only, so a
shared bank is never modified); values go to a temporary DuckDB file. The bank has no
trained models, so ``model_scores`` for three models are made up by hash (bands by rank,
as ``opsloop model train`` writes them) in the temporary file before timing starts.

    .venv/bin/python -m bench tags --warehouse /tmp/bench-1m/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from opsloop.insight.tags.compute import plan
from opsloop.insight.tags.definition import TagDef, validate_tag
from opsloop.insight.tags.write import day_stats, write_day
from opsloop.warehouse import Warehouse

SMALL = ["--customers", "20000"]
AS_OF = dt.date(2025, 12, 31)
END = "timestamp '2026-01-01 00:00:00'"
MODELS = ("churn", "fund_propensity", "loan_propensity")


def _txn(name: str, agg: str, days: int, **where: Any) -> dict[str, Any]:
    measure = {"of": "transactions", "agg": agg, "last_days": days, "where": where}
    return {"type": "statistic", "name": name, "value_type": "number", "measure": measure}


def _ev(name: str, event: str, days: int) -> dict[str, Any]:
    return {"type": "statistic", "name": name, "value_type": "number",
            "measure": {"of": "events", "step": {"event": event}, "last_days": days}}  # fmt: skip


def _aum(name: str, column: str, months: int, bands: list[Any] | None = None) -> dict[str, Any]:
    doc = {"type": "statistic", "name": name, "value_type": "enum" if bands else "number",
           "measure": {"of": "aum", "column": column, "months": months}}  # fmt: skip
    return doc | ({"bands": bands} if bands else {})


def _rule(name: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rule", "name": name, "condition": condition}


def _attr(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"kind": "attribute", "field": field, "op": op, "value": value}


def _agg(agg: str, days: int, op: str, value: float, **where: Any) -> dict[str, Any]:
    return {"kind": "txn_aggregate", "agg": agg, "last_days": days, "op": op, "value": value,
            "where": where}  # fmt: skip


def _did(event: str, op: str, count: int, days: int) -> dict[str, Any]:
    return {"kind": "behaviour", "step": {"event": event}, "op": op, "count": count,
            "last_days": days}  # fmt: skip


TIERS = [{"label": "<50k", "high": 5e4}, {"label": "50k-500k", "low": 5e4, "high": 5e5},
         {"label": "500k-6M", "low": 5e5, "high": 6e6}, {"label": ">6M", "low": 6e6}]  # fmt: skip
OUT_BANDS = [{"label": "none", "high": 1}, {"label": "low", "low": 1, "high": 5000},
             {"label": "mid", "low": 5000, "high": 50000},
             {"label": "high", "low": 50000}]  # fmt: skip

# (definition, hand-written SQL for the same value over the CTEs of BASELINE)
TAGS: list[tuple[dict[str, Any], str]] = [
    (_rule("high_risk_appetite", _attr("kyc_risk_level", ">=", 4)),
     "coalesce(c.kyc_risk_level >= 4, false)"),
    (_rule("young_adult", _attr("birth_date", ">=", "1995-01-01")),
     "coalesce(c.birth_date >= date '1995-01-01', false)"),
    (_rule("sms_reachable", {"kind": "and", "children": [_attr("consent_sms", "=", True),
                                                           _attr("dnd", "=", False)]}),
     "coalesce(c.consent_sms and not c.dnd, false)"),
    (_rule("closed", _attr("is_active", "=", False)), "coalesce(not c.is_active, false)"),
    (_rule("high_income", _attr("income_monthly", ">=", 30000)),
     "coalesce(c.income_monthly >= 30000, false)"),
    (_rule("new_customer", _attr("opened_on", ">=", "2025-07-01")),
     "coalesce(c.opened_on >= date '2025-07-01', false)"),
    (_rule("salary_payer_90d", _agg("count", 90, ">=", 1, kinds=["salary"])),
     "coalesce(tx.salary_n_90, 0) >= 1"),
    (_rule("big_outflow_30d", _agg("sum", 30, ">", 50000, direction="out")),
     "coalesce(tx.out_30, 0) > 50000"),
    (_rule("fund_buyer_90d", _agg("count", 90, ">=", 1, kinds=["fund_buy"])),
     "coalesce(tx.fund_buy_n_90, 0) >= 1"),
    (_rule("atm_user_30d", _agg("count", 30, ">=", 2, kinds=["atm_withdrawal"])),
     "coalesce(tx.atm_n_30, 0) >= 2"),
    (_rule("app_active_30d", _did("app_open", ">=", 3, 30)), "coalesce(ev.app_open_30, 0) >= 3"),
    (_rule("fund_browser_7d", _did("fund_detail_view", ">=", 1, 7)),
     "coalesce(ev.fund_view_7, 0) >= 1"),
    (_rule("no_login_60d", _did("login", "=", 0, 60)), "coalesce(ev.login_60, 0) = 0"),
    (_rule("rfm_top", {"kind": "rfm", "recency": [4, 5], "frequency": [4, 5],
                       "monetary": [4, 5]}),
     "coalesce(rfm.r >= 4 and rfm.f >= 4 and rfm.m >= 4, false)"),
    (_txn("inflow_30d", "sum", 30, direction="in"), "coalesce(tx.in_30, 0)"),
    (_txn("outflow_30d", "sum", 30, direction="out"), "coalesce(tx.out_30, 0)"),
    (_txn("inflow_90d", "sum", 90, direction="in"), "coalesce(tx.in_90, 0)"),
    (_txn("outflow_90d", "sum", 90, direction="out"), "coalesce(tx.out_90, 0)"),
    (_txn("txn_count_30d", "count", 30), "coalesce(tx.n_30, 0)"),
    (_txn("txn_count_365d", "count", 365), "coalesce(tx.n_365, 0)"),
    (_txn("salary_90d", "sum", 90, kinds=["salary"]), "coalesce(tx.salary_90, 0)"),
    (_txn("purchase_30d", "sum", 30, kinds=["purchase"]), "coalesce(tx.purchase_30, 0)"),
    (_txn("purchase_count_90d", "count", 90, kinds=["purchase"]), "coalesce(tx.purchase_n_90, 0)"),
    (_txn("fund_buy_365d", "sum", 365, kinds=["fund_buy"]), "coalesce(tx.fund_buy_365, 0)"),
    (_txn("loan_repay_90d", "sum", 90, kinds=["loan_repay"]), "coalesce(tx.loan_repay_90, 0)"),
    (_txn("max_txn_30d", "max", 30), "tx.max_30"),
    (_txn("avg_purchase_90d", "avg", 90, kinds=["purchase"]), "tx.avg_purchase_90"),
    (_txn("app_txn_count_30d", "count", 30, channels=["app"]), "coalesce(tx.app_n_30, 0)"),
    (_txn("outflow_band_30d", "sum", 30, direction="out") | {"value_type": "enum",
                                                              "bands": OUT_BANDS},
     "case when coalesce(tx.out_30, 0) < 1 then 'none' when coalesce(tx.out_30, 0) < 5000 "
     "then 'low' when coalesce(tx.out_30, 0) < 50000 then 'mid' else 'high' end"),
    (_ev("app_open_30d", "app_open", 30), "coalesce(ev.app_open_30, 0)"),
    (_ev("login_7d", "login", 7), "coalesce(ev.login_7, 0)"),
    (_ev("fund_view_30d", "fund_detail_view", 30), "coalesce(ev.fund_view_30, 0)"),
    (_ev("product_browse_30d", "product_browse", 30), "coalesce(ev.browse_30, 0)"),
    (_ev("transfer_start_7d", "transfer_start", 7), "coalesce(ev.transfer_7, 0)"),
    (_aum("aum_latest", "aum", 1), "am.aum_1"),
    (_aum("aum_tier", "aum", 1, TIERS),
     "case when am.aum_1 < 5e4 then '<50k' when am.aum_1 < 5e5 then '50k-500k' "
     "when am.aum_1 < 6e6 then '500k-6M' when am.aum_1 >= 6e6 then '>6M' end"),
    (_aum("aum_avg_3m", "aum", 3), "am.aum_3"),
    (_aum("deposit_avg_3m", "deposit_balance", 3), "am.deposit_3"),
    (_aum("wealth_latest", "wealth_balance", 1), "am.wealth_1"),
    (_aum("loan_balance_latest", "loan_balance", 1), "am.loan_1"),
    (_aum("aum_avg_6m_tier", "aum", 6, TIERS),
     "case when am.aum_6 < 5e4 then '<50k' when am.aum_6 < 5e5 then '50k-500k' "
     "when am.aum_6 < 6e6 then '500k-6M' when am.aum_6 >= 6e6 then '>6M' end"),
    ({"type": "statistic", "name": "rfm_segment", "value_type": "enum",
      "measure": {"of": "rfm", "output": "segment"}}, "rfm.segment"),
    ({"type": "statistic", "name": "rfm_r", "value_type": "number",
      "measure": {"of": "rfm", "output": "recency"}}, "rfm.r"),
    ({"type": "statistic", "name": "rfm_f", "value_type": "number",
      "measure": {"of": "rfm", "output": "frequency"}}, "rfm.f"),
    ({"type": "statistic", "name": "rfm_m", "value_type": "number",
      "measure": {"of": "rfm", "output": "monetary"}}, "rfm.m"),
    ({"type": "model", "name": "churn_band", "value_type": "enum", "model": "churn"},
     "ms.churn_band"),
    ({"type": "model", "name": "churn_score", "value_type": "number", "model": "churn",
      "output": "score"}, "ms.churn_score"),
    ({"type": "model", "name": "fund_band", "value_type": "enum", "model": "fund_propensity"},
     "ms.fund_band"),
    ({"type": "model", "name": "fund_score", "value_type": "number", "model": "fund_propensity",
      "output": "score"}, "ms.fund_score"),
    ({"type": "model", "name": "loan_band", "value_type": "enum", "model": "loan_propensity"},
     "ms.loan_band"),
]  # fmt: skip


def _since(days: int) -> str:
    return f"ts >= {END} - interval {days} day"


SEGMENT_CASE = (
    "case when r >= 4 and f >= 4 and m >= 4 then '重要价值客户' "
    "when r < 4 and f >= 4 and m >= 4 then '重要保持客户' "
    "when r >= 4 and f < 4 and m >= 4 then '重要发展客户' "
    "when r < 4 and f < 4 and m >= 4 then '重要挽留客户' "
    "when r >= 4 and f >= 4 and m < 4 then '一般价值客户' "
    "when r < 4 and f >= 4 and m < 4 then '一般保持客户' "
    "when r >= 4 and f < 4 and m < 4 then '一般发展客户' else '一般挽留客户' end"
)
BASELINE = f"""
with tx as (
  select customer_id,
    count(*) filter (where kind = 'salary' and {_since(90)}) salary_n_90,
    sum(amount) filter (where direction = 'out' and {_since(30)}) out_30,
    count(*) filter (where kind = 'fund_buy' and {_since(90)}) fund_buy_n_90,
    count(*) filter (where kind = 'atm_withdrawal' and {_since(30)}) atm_n_30,
    sum(amount) filter (where direction = 'in' and {_since(30)}) in_30,
    sum(amount) filter (where direction = 'in' and {_since(90)}) in_90,
    sum(amount) filter (where direction = 'out' and {_since(90)}) out_90,
    count(*) filter (where {_since(30)}) n_30,
    count(*) n_365,
    sum(amount) filter (where kind = 'salary' and {_since(90)}) salary_90,
    sum(amount) filter (where kind = 'purchase' and {_since(30)}) purchase_30,
    count(*) filter (where kind = 'purchase' and {_since(90)}) purchase_n_90,
    sum(amount) filter (where kind = 'fund_buy') fund_buy_365,
    sum(amount) filter (where kind = 'loan_repay' and {_since(90)}) loan_repay_90,
    max(amount) filter (where {_since(30)}) max_30,
    avg(amount) filter (where kind = 'purchase' and {_since(90)}) avg_purchase_90,
    count(*) filter (where channel = 'app' and {_since(30)}) app_n_30
  from transactions where {_since(365)} and ts < {END} group by customer_id
), ev as (
  select customer_id,
    count(*) filter (where event = 'app_open' and {_since(30)}) app_open_30,
    count(*) filter (where event = 'fund_detail_view' and {_since(7)}) fund_view_7,
    count(*) filter (where event = 'login' and {_since(60)}) login_60,
    count(*) filter (where event = 'login' and {_since(7)}) login_7,
    count(*) filter (where event = 'fund_detail_view' and {_since(30)}) fund_view_30,
    count(*) filter (where event = 'product_browse' and {_since(30)}) browse_30,
    count(*) filter (where event = 'transfer_start' and {_since(7)}) transfer_7
  from events where {_since(60)} and ts < {END} and customer_id is not null
  group by customer_id
), am as (
  select customer_id,
    avg(aum) filter (where month >= date '2025-12-01') aum_1,
    avg(aum) filter (where month >= date '2025-10-01') aum_3,
    avg(deposit_balance) filter (where month >= date '2025-10-01') deposit_3,
    avg(wealth_balance) filter (where month >= date '2025-12-01') wealth_1,
    avg(loan_balance) filter (where month >= date '2025-12-01') loan_1,
    avg(aum) aum_6
  from aum_monthly where month >= date '2025-07-01' and month <= date '2025-12-31'
  group by customer_id
), per as (
  select customer_id, max(ts) recency, count(*) frequency, sum(amount) monetary
  from transactions where {_since(365)} and ts < {END} group by customer_id
), scored as (
  select customer_id,
    ceil(5.0 * (count(*) over () - rank() over (order by recency desc) + 1) / count(*) over ())
      ::double r,
    ceil(5.0 * (count(*) over () - rank() over (order by frequency desc) + 1)
      / count(*) over ())::double f,
    ceil(5.0 * (count(*) over () - rank() over (order by monetary desc) + 1)
      / count(*) over ())::double m
  from per
), rfm as (select *, {SEGMENT_CASE} segment from scored),
ms as (
  select customer_id,
    max(band) filter (where model = 'churn') churn_band,
    max(score) filter (where model = 'churn') churn_score,
    max(band) filter (where model = 'fund_propensity') fund_band,
    max(score) filter (where model = 'fund_propensity') fund_score,
    max(band) filter (where model = 'loan_propensity') loan_band
  from model_scores group by customer_id
)
select c.customer_id, {{columns}}
from customers c left join tx using (customer_id) left join ev using (customer_id)
  left join am using (customer_id) left join rfm using (customer_id)
  left join ms using (customer_id)
"""


def _defs() -> list[TagDef]:
    return [validate_tag({"owner": "bench", "category": "bench", **doc}) for doc, _ in TAGS]


def _baseline(con: Any, defs: list[TagDef]) -> None:
    cols = ", ".join(f"({sql}) as t{i}" for i, (_, sql) in enumerate(TAGS))
    con.execute(f"create temp table base_wide as {BASELINE.format(columns=cols)}")
    kind = {"bool": ("t{i}", "null", "null"), "number": ("null", "t{i}::double", "null"),
            "enum": ("null", "null", "t{i}")}  # fmt: skip
    parts = []
    for i, d in enumerate(defs):
        b, n, s = (x.format(i=i) for x in kind[d.value_type])
        parts.append(f"select '{d.name}' tag, customer_id, {b}::boolean value_bool, "
                     f"{n}::double value_num, {s}::varchar value_str, date '{AS_OF}' as_of "
                     f"from base_wide where t{i} is not null")  # fmt: skip
    con.execute("create table base_values as " + " union all ".join(parts))
    con.execute("drop table base_wide")


DIGEST = """select tag, count(*) n, count(*) filter (where value_bool) trues,
  string_agg(distinct value_str, ',' order by value_str) labels, sum(value_num) total
  from {t} group by tag order by tag"""


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Counts and labels exactly; sums to 1e-9 relative (float addition order differs)."""
    if a[:4] != b[:4]:
        return False
    if a[4] is None or b[4] is None:
        return a[4] is b[4]
    return bool(abs(a[4] - b[4]) <= 1e-9 * max(1.0, abs(a[4]), abs(b[4])))


def _setup(wh: Warehouse, source: str | None, customers: int) -> None:
    con = wh.con.con  # type: ignore[attr-defined]
    if source:
        con.execute(f"attach '{source}' as src (read_only)")
        for t in ("customers", "transactions", "events", "aum_monthly"):
            con.execute(f"create view {t} as select * from src.main.{t}")
    else:
        _small_bank(wh, customers)
    models = ", ".join(f"('{m}')" for m in MODELS)
    con.execute(f"""create table model_scores as
      select customer_id, model, score,
        case when rk <= 0.1 then 'high' when rk <= 0.3 then 'medium' else 'low' end band,
        timestamp '2025-12-31' scored_at, null::varchar reasons
      from (select *, cume_dist() over (partition by model order by score desc) rk from (
        select c.customer_id, m.model, (hash(c.customer_id, m.model) % 1000000) / 1e6 score
        from customers c cross join (values {models}) m(model)
        where hash(c.customer_id) % 20 <> 0))""")  # fmt: skip


def _small_bank(wh: Warehouse, customers: int) -> None:
    from opsloop.settings import Settings
    from opsloop.synth import generate_bank

    home = Path(tempfile.mkdtemp(prefix="opsloop-bench-tags-"))
    settings = Settings(home=home, secret_key="bench-secret", warehouse=str(home / "w.duckdb"))  # type: ignore[arg-type]
    generate_bank(settings=settings, customers=customers, months=12, seed=7, workers=1)
    con = wh.con.con  # type: ignore[attr-defined]
    con.execute(f"attach '{home / 'w.duckdb'}' as src (read_only)")
    for t in ("customers", "transactions", "events", "aum_monthly"):
        con.execute(f"create table {t} as select * from src.main.{t}")


def _progress(what: str, wall: float, cpu: float) -> None:
    """Partial figures on stderr, so a run cut short on a busy machine still says something."""
    import sys

    print(f"{what}: wall {wall:.2f} s, cpu {cpu:.2f} s, load {_load()}", file=sys.stderr)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _breakdown(wh: Warehouse, batches: list[Any]) -> dict[str, dict[str, float]]:
    """Each batch alone: its wide query into a temp table, then the unpivot into a copy."""
    from opsloop.insight.tags.write import _select

    con = wh.con.con  # type: ignore[attr-defined]
    con.execute("create temp table _bd_values as select * from tag_values limit 0")
    out = {}
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        con.execute(f"create temp table _bd{i} as {wh.con.compile(b.expr)}")
        t1 = time.perf_counter()
        day = f"date '{AS_OF}'"
        selects = " union all ".join(
            _select(f"_bd{i}", c, d, day) for c, d in zip(b.columns, b.tags, strict=True)
        )
        con.execute(f"insert into _bd_values {selects}")
        t2 = time.perf_counter()
        con.execute(f"drop table _bd{i}")
        out[f"{i}:{b.source.split(':')[0]}({len(b.tags)})"] = {
            "compute_s": round(t1 - t0, 2),
            "insert_s": round(t2 - t1, 2),
        }
    con.execute("drop table _bd_values")
    return out


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench tags")
    ap.add_argument("--warehouse", help="a generated bank (DuckDB file), read-only")
    ap.add_argument("--customers", type=int, default=20000, help="small bank when no --warehouse")
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="after the timed runs, time each batch's compute and its unpivoting insert alone",
    )
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="opsloop-bench-tags-"))
    wh = Warehouse.open(str(tmp / "tags.duckdb"))
    try:
        _setup(wh, args.warehouse, args.customers)
        con = wh.con.con  # type: ignore[attr-defined]
        con.execute("set enable_progress_bar = false")
        defs = _defs()
        n = con.execute("select count(*) from customers").fetchone()[0]
        load0 = _load()
        c0, t0 = time.process_time(), time.perf_counter()
        tables = {t: wh.table(t) for t in wh.tables()}
        batches = plan(defs, tables=tables, as_of=AS_OF)
        write_day(wh, batches, as_of=AS_OF, dataset=None)
        ops, ops_cpu = time.perf_counter() - t0, time.process_time() - c0
        _progress("opsloop", ops, ops_cpu)
        t1 = time.perf_counter()
        stats = day_stats(wh, defs, as_of=AS_OF, dataset=None)
        stats_s = time.perf_counter() - t1
        load1 = _load()
        c2, t2 = time.process_time(), time.perf_counter()
        _baseline(con, defs)
        base, base_cpu = time.perf_counter() - t2, time.process_time() - c2
        _progress("baseline", base, base_cpu)
        load2 = _load()
        mine = con.execute(DIGEST.format(t="tag_values")).fetchall()
        theirs = con.execute(DIGEST.format(t="base_values")).fetchall()
        differ = sorted({a[0] for a, b in zip(mine, theirs, strict=False) if not _same(a, b)})
        if len(mine) != len(theirs):
            differ.append("<tag sets differ>")
        rows = con.execute("select count(*) from tag_values").fetchone()[0]
        parts = _breakdown(wh, batches) if args.breakdown else {}
        return {
            "breakdown_s": parts,
            "customers": int(n),
            "tags": len(defs),
            "types": {t: sum(d.type == t for d in defs) for t in ("rule", "statistic", "model")},
            "batches": len(batches),
            "rows_written": int(rows),
            "opsloop_s": round(ops, 2),
            "stats_s": round(stats_s, 2),
            "baseline_sql_s": round(base, 2),
            "ratio": round(ops / base, 2),
            "opsloop_cpu_s": round(ops_cpu, 2),
            "baseline_cpu_s": round(base_cpu, 2),
            "cpu_ratio": round(ops_cpu / base_cpu, 2),
            "goal_s": 60,
            "agree": not differ,
            "differ": differ,
            "min_coverage": round(min(s.coverage for s in stats), 3),
            "loadavg": [load0, load1, load2],
            "cores": os.cpu_count(),
        }
    finally:
        wh.close()
        shutil.rmtree(tmp, ignore_errors=True)  # ~350 MB of values at 1 M customers
