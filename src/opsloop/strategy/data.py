"""What the executor reads about customers, as whole columns: one query per node, not per customer.

:class:`WarehouseData` answers through :class:`opsloop.warehouse.Warehouse` with the
caller's data scope applied inside every Ibis expression; conditions are compiled
by the Insight segment compiler, so a condition split means exactly what the same
condition means in a segment.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import ibis
import numpy as np
import numpy.typing as npt

from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError
from opsloop.insight.segments.compiler import TAG_VALUES, SegmentCompiler, scope_customers
from opsloop.insight.segments.model import EventStep
from opsloop.insight.segments.service import WarehouseTables
from opsloop.warehouse import Warehouse

Ids = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class CustomerData(Protocol):
    def attribute(self, field: str, ids: Ids) -> npt.NDArray[Any]: ...

    def condition(self, condition: Any, where: str, ids: Ids) -> Mask: ...

    def scores(self, model: str, ids: Ids) -> npt.NDArray[np.float64]: ...

    def tag(self, name: str, ids: Ids) -> npt.NDArray[Any]:
        """Per customer the tag's value in its latest run (None when they have none)."""
        ...

    def last_event(self, step: EventStep, ids: Ids, after: dt.datetime) -> npt.NDArray[Any]:
        """Per customer the latest matching event at or after ``after`` (NaT when none)."""
        ...


def _lookup(
    keys: Ids, values: npt.NDArray[Any], ids: Ids, missing: Any, *, is_sorted: bool = False
) -> npt.NDArray[Any]:
    if not is_sorted:
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
    pos = np.clip(np.searchsorted(keys, ids), 0, max(len(keys) - 1, 0))
    found = (keys[pos] == ids) if len(keys) else np.zeros(len(ids), dtype=bool)
    out = np.full(len(ids), missing, dtype=values.dtype)
    if len(keys):
        out[found] = values[pos[found]]
    return out


class WarehouseData:
    """Customer columns, conditions, model scores and events from the warehouse."""

    def __init__(
        self,
        wh: Warehouse,
        *,
        as_of: dt.date | dt.datetime,
        dataset: str | None = None,
        principal: Principal | None = None,
    ) -> None:
        self.wh, self.as_of, self.principal = wh, as_of, principal
        self.tables = WarehouseTables(wh, dataset)
        self._columns: dict[str, tuple[Ids, npt.NDArray[Any]]] = {}

    def customers(self) -> ibis.Table:
        return scope_customers(self.tables["customers"], None, self.principal)

    def audience(self, segment: Any) -> Ids:
        """A segment's members (in scope) as sorted ids."""
        c = self.customers()
        compiler = SegmentCompiler(customers=c, tables=self.tables, as_of=self.as_of)
        expr = c.filter(compiler.compile(segment.root, "root")).select("customer_id")
        ids = self.wh.execute(expr).column("customer_id").to_numpy()
        return np.sort(ids.astype(np.int64))

    def attribute(self, field: str, ids: Ids) -> npt.NDArray[Any]:
        if field not in self._columns:
            c = self.customers()
            got = self.wh.execute(c.select("customer_id", field))
            keys = got.column("customer_id").to_numpy().astype(np.int64)
            col = got.column(field).to_numpy(zero_copy_only=False)
            order = np.argsort(keys, kind="stable")  # once: the column is reused per node
            self._columns[field] = (keys[order], col[order])
        keys, col = self._columns[field]
        return _lookup(keys, col, ids, None if col.dtype == object else False, is_sorted=True)

    def condition(self, condition: Any, where: str, ids: Ids) -> Mask:
        c = self.customers()
        compiler = SegmentCompiler(customers=c, tables=self.tables, as_of=self.as_of)
        expr = c.filter(compiler.compile(condition, where)).select("customer_id")
        members = self.wh.execute(expr).column("customer_id").to_numpy().astype(np.int64)
        return np.isin(ids, members)

    def scores(self, model: str, ids: Ids) -> npt.NDArray[np.float64]:
        t = self.wh.table("model_scores", dataset=self.tables._dataset)
        got = self.wh.execute(t.filter(t.model == model).select("customer_id", "score"))
        keys = got.column("customer_id").to_numpy().astype(np.int64)
        vals = got.column("score").to_numpy().astype(np.float64)
        return _lookup(keys, vals, ids, np.nan).astype(np.float64)

    def tag(self, name: str, ids: Ids) -> npt.NDArray[Any]:
        """Insight's ``tag_values``: the tag's latest run on or before ``as_of`` (the
        segment compiler's rule), one value per customer, None when absent."""
        ds = self.tables._dataset
        if TAG_VALUES not in self.wh.tables(ds):
            raise InvalidInputError(
                "no tag values in the warehouse yet: run `opsloop tag run` first", where="tag"
            )
        tv = self.wh.table(TAG_VALUES, dataset=ds)
        day = self.as_of.date() if isinstance(self.as_of, dt.datetime) else self.as_of
        mine = tv.filter(tv.tag == name)
        latest = mine.filter(mine.as_of <= ibis.literal(day)).as_of.max().as_scalar()
        got = self.wh.execute(
            mine.filter(mine.as_of == latest).select(
                "customer_id", "value_bool", "value_num", "value_str"
            )
        )
        keys = got.column("customer_id").to_numpy().astype(np.int64)
        vals = np.array(
            [
                b if b is not None else (n if n is not None else t)
                for b, n, t in zip(
                    got.column("value_bool").to_pylist(),
                    got.column("value_num").to_pylist(),
                    got.column("value_str").to_pylist(),
                    strict=True,
                )
            ],
            dtype=object,
        )
        return _lookup(keys, vals, ids, None)

    def last_event(self, step: EventStep, ids: Ids, after: dt.datetime) -> npt.NDArray[Any]:
        e = self.tables["events"]
        e = e.filter(
            e.event == step.event, e.customer_id.notnull(), e.ts >= after.replace(tzinfo=None)
        )
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
        got = self.wh.execute(e.group_by("customer_id").aggregate(last=e.ts.max()))
        keys = got.column("customer_id").to_numpy().astype(np.int64)
        vals = got.column("last").to_numpy().astype("datetime64[us]")
        return _lookup(keys, vals, ids, np.datetime64("NaT", "us"))
