"""Writing one day of tag values, in the engine, and measuring what was written.

A run's values never pass through Python: each batch's wide expression is compiled by
Ibis and the engine copies it into ``tag_values`` (one ``insert … select`` per batch,
after deleting that day's rows of the same tags, so a rerun on the same day replaces
them). All batches of a run commit in one transaction: readers see the day's old
values or the new ones, never a mix. ``Warehouse.replace_tables`` would rewrite the
whole history on every run, and ``warehouse.append`` keeps first rows rather than
replacing them, so this module issues the few statements itself, under the
warehouse's lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis

from opsloop.errors import InvalidInputError
from opsloop.insight.tags.compute import Batch
from opsloop.insight.tags.definition import TagDef
from opsloop.insight.tags.values import TABLE
from opsloop.warehouse import Warehouse

_CREATE = (
    "create table if not exists {t} (tag varchar not null, customer_id bigint not null, "
    "value_bool boolean, value_num double precision, value_str varchar, as_of date not null)"
)
_VALUE_COLUMN = {"bool": "value_bool", "number": "value_num", "enum": "value_str"}


def write_day(
    wh: Warehouse, batches: Sequence[Batch], *, as_of: dt.date, dataset: str | None
) -> None:
    """Replace ``as_of``'s values of every tag in ``batches`` with what they compute."""
    if wh.read_only:
        raise InvalidInputError("the warehouse is open read-only; stop `opsloop serve` or use it")
    ds = dataset or wh.default_dataset
    target = f'"{ds}"."{TABLE}"'
    day = f"date '{as_of.isoformat()}'"
    statements = [f'create schema if not exists "{ds}"', _CREATE.format(t=target)]
    for i, batch in enumerate(batches):
        tmp = f"_opsloop_tag_batch_{i}"
        names = ", ".join(_quote(d.name) for d in batch.tags)
        pairs = zip(batch.columns, batch.tags, strict=True)
        selects = " union all ".join(_select(tmp, col, d, day) for col, d in pairs)
        statements += [
            f"create temp table {tmp} as {wh.con.compile(batch.expr)}",
            f"delete from {target} where as_of = {day} and tag in ({names})",
            f"insert into {target} (tag, customer_id, value_bool, value_num, value_str, as_of) "
            + selects,
            f"drop table {tmp}",
        ]
    with wh.lock:
        if wh.dialect == "duckdb":
            _run_duckdb(wh, statements)
        else:  # Ibis runs one raw_sql call in one PostgreSQL transaction
            wh.con.raw_sql(";\n".join(statements)).close()


def _run_duckdb(wh: Warehouse, statements: list[str]) -> None:
    wh.con.raw_sql("begin transaction")
    try:
        for s in statements:
            wh.con.raw_sql(s)
        wh.con.raw_sql("commit")
    except BaseException:
        wh.con.raw_sql("rollback")
        raise


def _select(tmp: str, col: str, d: TagDef, day: str) -> str:
    values = {c: "null" for c in _VALUE_COLUMN.values()}
    values[_VALUE_COLUMN[d.value_type]] = col
    return (
        f"select {_quote(d.name)}, customer_id, {values['value_bool']}::boolean, "
        f"{values['value_num']}::double precision, {values['value_str']}::varchar, {day} "
        f"from {tmp} where {col} is not null"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class DayStats:
    """Coverage and value distribution of one tag on one day."""

    tag: str
    customers: int
    with_value: int
    distribution: dict[str, Any]

    @property
    def coverage(self) -> float:
        return self.with_value / self.customers if self.customers else 0.0


def day_stats(
    wh: Warehouse, defs: Sequence[TagDef], *, as_of: dt.date, dataset: str | None
) -> list[DayStats]:
    """Two queries: per-tag counts and number quantiles, and per-label counts for enums.

    Numbers: min, quartiles (linear interpolation), median, max, mean; yes/no: counts of
    each; enums: count per label. Coverage is over every customer of the dataset.
    """
    customers = wh.table("customers", dataset=dataset)
    total = int(wh.execute(customers.aggregate(n=customers.count())).column("n")[0].as_py())
    tv = wh.table(TABLE, dataset=dataset)
    day = tv.filter(tv.as_of == ibis.literal(as_of), tv.tag.isin([d.name for d in defs]))
    v = day.value_num
    per = day.group_by("tag").aggregate(
        n=day.count(),
        trues=day.count(where=day.value_bool),  # PostgreSQL cannot cast boolean to bigint
        falses=day.count(where=~day.value_bool),
        min=v.min(), p25=v.quantile(0.25), median=v.quantile(0.5), p75=v.quantile(0.75),
        max=v.max(), mean=v.mean(),
    )  # fmt: skip
    rows = {r["tag"]: r for r in wh.execute(per).to_pylist()}
    labels = day.filter(day.value_str.notnull())
    counts = labels.group_by(["tag", "value_str"]).aggregate(n=labels.count())
    by_label: dict[str, dict[str, int]] = {}
    for r in wh.execute(counts.order_by(["tag", ibis.desc("n"), "value_str"])).to_pylist():
        by_label.setdefault(r["tag"], {})[r["value_str"]] = int(r["n"])
    out = []
    for d in defs:
        r = rows.get(d.name, {})
        n = int(r.get("n") or 0)
        dist: dict[str, Any]
        if d.value_type == "bool":
            dist = {"true": int(r.get("trues") or 0), "false": int(r.get("falses") or 0)}
        elif d.value_type == "enum":
            dist = {"labels": by_label.get(d.name, {})}
        else:
            dist = {k: r.get(k) for k in ("min", "p25", "median", "p75", "max", "mean")}
        out.append(DayStats(tag=d.name, customers=total, with_value=n, distribution=dist))
    return out
