"""Tag services: keyword-only functions the API and the CLI call.

The catalogue and run history live in the operational store; values in the warehouse.
Every change (create, import of ids, run) is audited in the same transaction as the
change it records.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select

from opsloop.access import audit
from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.insight.schedule import latest_fire
from opsloop.insight.tags.compute import MANUAL_IDS, plan
from opsloop.insight.tags.definition import ManualTag, TagDef, dump_tag, validate_tag
from opsloop.insight.tags.tables import TagManualIdRow, TagRow, TagRunRow
from opsloop.insight.tags.values import TagValue, tags_as_of
from opsloop.insight.tags.write import day_stats, write_day
from opsloop.store import Store
from opsloop.warehouse import Warehouse

BANK_ZONE = ZoneInfo("Asia/Shanghai")
"""Schedules are read in the bank's local time (as journeys' contact policy does)."""


class RunSummary(BaseModel):
    """What one tag's run produced: coverage and distribution (kept in ``tag_runs``)."""

    model_config = ConfigDict(frozen=True)
    tag: str
    as_of: dt.date
    customers: int
    with_value: int
    coverage: float
    distribution: dict[str, Any]
    seconds: float


class TagInfo(BaseModel):
    """A catalogue entry with its latest run."""

    model_config = ConfigDict(frozen=True)
    name: str
    title: str
    owner: str
    category: str
    type: str
    value_type: str
    schedule: str | None
    description: str
    definition: dict[str, Any]
    last_run: RunSummary | None = None


def create_tag(*, store: Store, doc: Any, principal: Principal) -> TagInfo:
    """Validate and save a new tag (409 if the name is taken); the owner defaults to the caller."""
    defn = validate_tag({"owner": principal.id, **doc} if isinstance(doc, dict) else doc)
    with store.session() as s:
        if s.get(TagRow, defn.name) is not None:
            raise ConflictError(f"tag {defn.name!r} already exists", where="name")
        s.add(_row(defn, principal))
        audit.record(
            s,
            actor=principal,
            action="tag.create",
            target_type="tag",
            target_id=defn.name,
            after=dump_tag(defn),
        )
    return _info(defn, None)


def list_tags(*, store: Store, category: str | None = None) -> list[TagInfo]:
    """The catalogue (optionally one category subtree), each with its latest run."""
    with store.session() as s:
        q = select(TagRow).order_by(TagRow.category, TagRow.name)
        if category:
            prefix = category.strip("/")
            q = q.where((TagRow.category == prefix) | TagRow.category.startswith(prefix + "/"))
        rows = list(s.scalars(q))
        runs = _latest_runs(s, [r.name for r in rows])
        return [_info(validate_tag(r.definition), runs.get(r.name)) for r in rows]


def get_tag(*, store: Store, name: str) -> TagInfo:
    with store.session() as s:
        row = s.get(TagRow, name)
        if row is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        return _info(validate_tag(row.definition), _latest_runs(s, [name]).get(name))


def load_definitions(*, store: Store, names: Sequence[str] | None = None) -> list[TagDef]:
    """Definitions by name (all when ``names`` is None); unknown names are 404s."""
    with store.session() as s:
        rows = {r.name: r for r in s.scalars(select(TagRow))}
    if names is None:
        return [validate_tag(rows[n].definition) for n in sorted(rows)]
    missing = [n for n in names if n not in rows]
    if missing:
        raise NotFoundError(f"no tag {missing[0]!r}", where="name")
    return [validate_tag(rows[n].definition) for n in names]


def import_ids(*, store: Store, name: str, ids: Sequence[int], principal: Principal) -> int:
    """Replace a manual tag's customer list (values change at its next run)."""
    unique = sorted({int(i) for i in ids})
    with store.session() as s:
        row = s.get(TagRow, name)
        if row is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        if row.type != "manual":
            raise InvalidInputError(f"tag {name!r} is a {row.type} tag, not manual", where="name")
        s.execute(delete(TagManualIdRow).where(TagManualIdRow.tag == name))
        s.add_all(TagManualIdRow(tag=name, customer_id=i) for i in unique)
        audit.record(
            s,
            actor=principal,
            action="tag.import_ids",
            target_type="tag",
            target_id=name,
            after={"ids": len(unique)},
        )
    return len(unique)


def run_tags(
    *,
    store: Store,
    wh: Warehouse,
    names: Sequence[str] | None,
    as_of: dt.date,
    principal: Principal,
    dataset: str | None = None,
) -> list[RunSummary]:
    """Compute tags for ``as_of`` (all when ``names`` is None), replace that day, record runs."""
    defs = load_definitions(store=store, names=names)
    if not defs:
        return []
    started = time.perf_counter()
    manual = [d.name for d in defs if isinstance(d, ManualTag)]
    tables = _WarehouseTables(wh, dataset, _manual_ids(store, manual) if manual else None)
    batches = plan(defs, tables=tables, as_of=as_of)
    write_day(wh, batches, as_of=as_of, dataset=dataset)
    stats = day_stats(wh, defs, as_of=as_of, dataset=dataset)
    seconds = time.perf_counter() - started
    out = [
        RunSummary(
            tag=st.tag,
            as_of=as_of,
            customers=st.customers,
            with_value=st.with_value,
            coverage=st.coverage,
            distribution=st.distribution,
            seconds=seconds,
        )
        for st in stats
    ]
    now = dt.datetime.now(dt.UTC)
    ds = dataset or wh.default_dataset
    with store.session() as s:
        for r in out:
            s.add(TagRunRow(**r.model_dump(), dataset=ds, run_by=principal.id, finished_at=now))
        audit.record(
            s,
            actor=principal,
            action="tag.run",
            target_type="tag",
            target_id=",".join(d.name for d in defs)[:128],
            after={"as_of": as_of.isoformat(), "tags": len(defs), "dataset": ds},
        )
    return out


def due_tags(*, store: Store, now: dt.datetime, zone: ZoneInfo = BANK_ZONE) -> list[str]:
    """Tags whose cron ``schedule`` fired (however long ago) after their last run finished."""
    with store.session() as s:
        rows = list(s.scalars(select(TagRow).where(TagRow.schedule.is_not(None))))
        finished = dict(
            s.execute(
                select(TagRunRow.tag, func.max(TagRunRow.finished_at)).group_by(TagRunRow.tag)
            ).all()
        )
    due = []
    for row in rows:
        fired = latest_fire(row.schedule or "", now, zone)
        last = finished.get(row.name)
        if last is not None and last.tzinfo is None:  # SQLite returns naive UTC
            last = last.replace(tzinfo=dt.UTC)
        if fired is not None and (last is None or last < fired):
            due.append(row.name)
    return sorted(due)


def customer_tags(
    *,
    wh: Warehouse,
    principal: Principal,
    customer_id: int,
    as_of: dt.date | None = None,
    dataset: str | None = None,
) -> list[TagValue]:
    """A customer's tags as of a day, if the customer is in the caller's data scope."""
    c = scoped_customers(wh.table("customers", dataset=dataset), principal)
    found = c.filter(c.customer_id == ibis.literal(customer_id, type="int64")).count()
    if not int(wh.execute(found.as_table()).column(0)[0].as_py()):
        raise NotFoundError(f"no customer {customer_id} in your data scope", where="customer_id")
    return tags_as_of(wh, customer_id, as_of, dataset=dataset)


# -- internals -------------------------------------------------------------------------------
def _row(defn: TagDef, principal: Principal) -> TagRow:
    return TagRow(
        name=defn.name,
        title=defn.title,
        owner=defn.owner,
        category=defn.category,
        description=defn.description,
        type=defn.type,
        value_type=defn.value_type,
        schedule=defn.schedule,
        definition=dump_tag(defn),
        created_by=principal.id,
    )


def _info(defn: TagDef, run: RunSummary | None) -> TagInfo:
    return TagInfo(
        name=defn.name,
        title=defn.title,
        owner=defn.owner,
        category=defn.category,
        type=defn.type,
        value_type=defn.value_type,
        schedule=defn.schedule,
        description=defn.description,
        definition=dump_tag(defn),
        last_run=run,
    )


def _latest_runs(s: Any, names: list[str]) -> dict[str, RunSummary]:
    if not names:
        return {}
    rows = s.scalars(select(TagRunRow).where(TagRunRow.tag.in_(names)).order_by(TagRunRow.id))
    out: dict[str, RunSummary] = {}
    for r in rows:  # later ids overwrite earlier ones
        out[r.tag] = RunSummary(
            tag=r.tag,
            as_of=r.as_of,
            customers=r.customers,
            with_value=r.with_value,
            coverage=r.coverage,
            distribution=r.distribution,
            seconds=r.seconds,
        )
    return out


def _manual_ids(store: Store, names: list[str]) -> pa.Table:
    with store.session() as s:
        rows = s.execute(
            select(TagManualIdRow.tag, TagManualIdRow.customer_id).where(
                TagManualIdRow.tag.in_(names)
            )
        ).all()
    return pa.table(
        {
            "tag": pa.array([r[0] for r in rows], pa.string()),
            "customer_id": pa.array([r[1] for r in rows], pa.int64()),
        }
    )


class MissingTableError(NotFoundError, KeyError):
    """A tag reads a table the dataset does not have (a 404, and a KeyError for mappings)."""


class _WarehouseTables(Mapping[str, ibis.Table]):
    """Warehouse tables by name, looked up only when a batch needs them."""

    def __init__(self, wh: Warehouse, dataset: str | None, manual: pa.Table | None) -> None:
        self._wh, self._dataset, self._manual = wh, dataset, manual
        self._names = set(wh.tables(dataset))
        self._tmp: ibis.Table | None = None

    def __getitem__(self, name: str) -> ibis.Table:
        if name == MANUAL_IDS and self._manual is not None:
            if self._tmp is None:  # a temporary table the compiled SQL can name
                with self._wh.lock:
                    self._tmp = self._wh.con.create_table(
                        "_opsloop_tag_manual_ids", self._manual, temp=True, overwrite=True
                    )
            return self._tmp
        if name not in self._names:
            msg = f"the warehouse has no {name!r} table, which this tag reads"
            raise MissingTableError(msg, where="tables")
        return self._wh.table(name, dataset=self._dataset)

    def __contains__(self, name: object) -> bool:
        return name in self._names or (name == MANUAL_IDS and self._manual is not None)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)
