"""Tag values in the warehouse (``tag_values``): one row per tag, customer and run day.

A run on day D writes the tag's value for every customer who has one, stamped
``as_of = D``; a rerun on the same day replaces that day's rows, so the table is the
tag's daily history. "The value as of a date" is the customer's row in the tag's
latest run on or before that date — a customer absent from that run has no value then
(an older run's value does not leak through). The segment compiler reads the same
table with the same rule (``opsloop.insight.segments.compiler.TAG_VALUES``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pyarrow as pa

from opsloop.insight.segments.compiler import TAG_VALUES
from opsloop.warehouse import Warehouse

TABLE = TAG_VALUES
SCHEMA = pa.schema(
    [
        pa.field("tag", pa.string(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("value_bool", pa.bool_()),
        pa.field("value_num", pa.float64()),
        pa.field("value_str", pa.string()),
        pa.field("as_of", pa.date32(), nullable=False),
    ]
)


@dataclass(frozen=True)
class TagValue:
    """One customer's value of one tag, and the run day it comes from."""

    tag: str
    value: bool | float | str
    as_of: dt.date


def current_tags(wh: Warehouse, customer_id: int, *, dataset: str | None = None) -> list[TagValue]:
    """The customer's value of every tag in that tag's latest run (sorted by tag)."""
    return tags_as_of(wh, customer_id, None, dataset=dataset)


def tags_as_of(
    wh: Warehouse, customer_id: int, as_of: dt.date | None, *, dataset: str | None = None
) -> list[TagValue]:
    """The customer's tag values as of a day: each tag's latest run on or before ``as_of``.

    ``as_of=None`` means every tag's latest run. Callers check the customer is in the
    caller's data scope first (the profile and the tags API do).
    """
    if TABLE not in wh.tables(dataset):
        return []
    tv = wh.table(TABLE, dataset=dataset)
    known = tv if as_of is None else tv.filter(tv.as_of <= ibis.literal(as_of))
    runs = known.group_by(rtag=known.tag).aggregate(day=known.as_of.max())
    mine = known.filter(known.customer_id == ibis.literal(customer_id, type="int64"))
    hit = mine.join(runs, [mine.tag == runs.rtag, mine.as_of == runs.day])
    rows = wh.execute(
        hit.select("tag", "value_bool", "value_num", "value_str", "as_of").order_by("tag")
    ).to_pylist()
    return [TagValue(tag=r["tag"], value=_value(r), as_of=r["as_of"]) for r in rows]


def _value(row: dict[str, object]) -> bool | float | str:
    for col in ("value_bool", "value_num", "value_str"):
        v = row[col]
        if isinstance(v, bool | float | int | str):
            return float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    raise ValueError(f"tag {row['tag']} has a row without a value")  # writers never do this
