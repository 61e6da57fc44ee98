"""Run an analysis document: validate, compile to one expression, execute, shape as JSON."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError
from opsloop.monitor.analyses.compiler import Tables, compile_analysis
from opsloop.monitor.analyses.model import (
    AnalysisDocument,
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
from opsloop.warehouse import Warehouse


def validate_analysis(doc: Any) -> AnalysisDocument:
    """Parse ``{"analysis": {...}}`` (or the bare analysis) or raise naming the field."""
    if not isinstance(doc, Mapping):
        raise InvalidInputError("an analysis document is a JSON object", where="$")
    if "analysis" not in doc:
        doc = {"analysis": doc}
    try:
        return AnalysisDocument.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [f"[{x}]" if isinstance(x, int) else str(x) for x in err["loc"]]
        msg = str(err["msg"]).removeprefix("Value error, ")
        # drop the union tag Pydantic adds after "analysis"; a model-level check names
        # its field as "field: message".
        kind = doc["analysis"].get("kind") if isinstance(doc["analysis"], Mapping) else None
        path = [p for i, p in enumerate(loc) if not (i == 1 and p == kind)]
        head, sep, rest = msg.partition(": ")
        if sep and head.isidentifier() and err["type"] == "value_error":
            path.append(head)
            msg = rest
        where = ".".join(path).replace(".[", "[")
        raise InvalidInputError(msg, where=where) from None


def run_analysis(
    *, wh: Warehouse, doc: AnalysisDocument, principal: Principal, dataset: str | None = None
) -> dict[str, Any]:
    """Execute one analysis in the principal's scope and return chart-ready JSON."""
    a = doc.analysis
    aum = (
        wh.table("aum_monthly", dataset=dataset)
        if isinstance(a, Kpi) and a.metric == "aum"
        else None
    )
    tables = Tables(
        events=wh.table("events", dataset=dataset),
        customers=wh.table("customers", dataset=dataset),
        aum_monthly=aum,
    )
    result = wh.execute(compile_analysis(a, tables=tables, principal=principal))
    return shape(a, result)


def shape(a: object, result: pa.Table) -> dict[str, Any]:
    """The aggregated Arrow result → JSON for charts (pure; tests call it directly)."""
    rows = [{k: _json(v) for k, v in r.items()} for r in result.to_pylist()]
    kind = getattr(a, "kind", "")
    out: dict[str, Any] = {"kind": kind}
    if isinstance(a, EventAnalysis):
        out["rows"] = rows
    elif isinstance(a, Funnel):
        out["groups"] = [_funnel_group(a, r) for r in rows]
    elif isinstance(a, Retention):
        out["cohorts"] = _cohorts(rows, a.periods, "users", cumulative=False)
    elif isinstance(a, Ltv):
        out["cohorts"] = _cohorts(rows, a.months, "value", cumulative=True)
    elif isinstance(a, Distribution):
        out["buckets"] = _buckets(a, rows)
    elif isinstance(a, PathAnalysis):
        out.update(_paths(a, rows))
    elif isinstance(a, Attribution):
        out["channels"] = [
            {
                "channel": r["channel"] or "(none)",
                "credit": r["credit"],
                "conversions": r["conversions"],
            }
            for r in rows
        ]
        out["total_conversions"] = round(sum(r["credit"] for r in rows), 9)
    elif isinstance(a, Interval):
        r = rows[0]
        out.update({k: r[k] for k in ("started", "n", "mean", "min", "max")})
        out["percentiles"] = [{"p": p, "seconds": r[f"p{i}"]} for i, p in enumerate(a.percentiles)]
    elif isinstance(a, Kpi):
        out["metric"] = a.metric
        out["rows"] = _kpi_rows(a, rows)
    return out


def _json(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if not b or a is None else a / b


def _funnel_group(a: Funnel, r: dict[str, Any]) -> dict[str, Any]:
    n = [int(r[f"n{i}"] or 0) for i in range(len(a.steps))]
    steps = [
        {
            "step": i + 1,
            "event": s.event,
            "customers": n[i],
            "conversion": _ratio(n[i], n[0]),
            "from_previous": _ratio(n[i], n[i - 1]) if i else 1.0 if n[0] else None,
        }
        for i, s in enumerate(a.steps)
    ]
    return {"group": r["group"], "steps": steps, "median_seconds": r["median_seconds"]}


def _cohorts(rows: list[dict[str, Any]], periods: int, col: str, *, cumulative: bool) -> list[Any]:
    by: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = by.setdefault(r["cohort"], {"cohort": r["cohort"], "size": r["size"], "v": {}})
        if r["n"] is not None:
            c["v"][int(r["n"])] = r[col] or 0
    out = []
    for c in by.values():
        vals = [c["v"].get(n, 0) for n in range(periods + 1)]
        if cumulative:
            vals = [sum(vals[: i + 1]) for i in range(len(vals))]
            out.append({"cohort": c["cohort"], "size": c["size"], "value": vals,
                        "ltv": [v / c["size"] for v in vals]})  # fmt: skip
        else:
            out.append({"cohort": c["cohort"], "size": c["size"], "retained": vals,
                        "rate": [v / c["size"] for v in vals]})  # fmt: skip
    return out


def _buckets(a: Distribution, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    got = {int(r["bucket"]): r for r in rows}
    edges: list[float | None] = [None, *a.edges, None]
    out = []
    for i in range(len(a.edges) + 1):
        r = got.get(i, {"customers": 0, "total": 0.0})
        out.append({"low": edges[i], "high": edges[i + 1], "customers": r["customers"],
                    "total": r["total"]})  # fmt: skip
    return out


def _paths(a: PathAnalysis, rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols = [f"s{i}" for i in range(1, a.depth + 1)]
    paths: list[dict[str, Any]] = []
    links: dict[tuple[str, str], int] = {}
    for r in rows:
        seq = [a.anchor.event] + [r[c] for c in cols if r[c] is not None]
        # the later steps are absent once one is (a customer's sequence ends)
        n = int(r["customers"])
        paths.append({"path": seq, "customers": n})
        for d in range(len(seq) - 1):
            key = (f"{d}:{seq[d]}", f"{d + 1}:{seq[d + 1]}")
            if a.direction == "before":
                key = (f"-{d + 1}:{seq[d + 1]}", f"-{d}:{seq[d]}" if d else f"0:{seq[0]}")
            links[key] = links.get(key, 0) + n
    paths.sort(key=lambda p: (-int(p["customers"]), list(p["path"])))
    names = sorted({x for k in links for x in k} | {f"0:{a.anchor.event}"})
    return {
        "paths": paths[: a.top],
        "nodes": [{"name": n} for n in names],
        "links": [{"source": s, "target": t, "value": v} for (s, t), v in sorted(links.items())],
    }


def _kpi_rows(a: Kpi, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    prev: dict[str, Any] | None = None
    for r in rows:
        x = dict(r)
        if a.metric == "aum":
            x["change"] = None if prev is None else r["aum"] - prev["aum"]
            x["change_pct"] = None if prev is None else _ratio(x["change"], prev["aum"])
        elif a.metric == "pv_uv_ctr":
            x["ctr"] = _ratio(r["clicks"], r["pv"])
        elif a.metric == "bounce":
            x["rate"] = _ratio(r["bounces"], r["visits"])
        elif a.metric == "conversion":
            x["rate"] = _ratio(r["converted"], r["base"])
        elif a.metric == "activation":
            x["rate"] = _ratio(r["activated"], r["opened"])
        elif a.metric == "retention":
            x["retained"] = r["retained"] or 0
            x["rate"] = _ratio(x["retained"], r["previous"])
        elif a.metric == "nps":
            x["value"] = _ratio(100.0 * (r["promoters"] - r["detractors"]), r["n"])
        elif a.metric == "csat":
            x["value"] = _ratio(100.0 * r["satisfied"], r["n"])
        elif a.metric == "ces":
            x["value"] = r["mean"]
        out.append(x)
        prev = r
    return out
