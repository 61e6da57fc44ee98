"""Tag services: keyword-only functions the API and the CLI call.

The catalogue and run history live in the operational store; values in the warehouse.
Every change (create, edit, archive, import of ids, run, pruning of history) is audited
in the same transaction as the change it records. An edit makes a new version (every
version is kept in ``tag_versions``); archiving is refused while a segment or a journey
still refers to the tag, naming them. History is pruned by a retention in days: daily
values older than that are dropped from the warehouse (each tag's latest day is always
kept), while every run's coverage report stays in ``tag_runs``.
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
from opsloop.insight.tags.tables import TagManualIdRow, TagRow, TagRunRow, TagVersionRow
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
    version: int = 1
    archived_at: dt.datetime | None = None
    last_run: RunSummary | None = None


class TagVersion(BaseModel):
    """One past or current definition of a tag."""

    model_config = ConfigDict(frozen=True)
    name: str
    version: int
    definition: dict[str, Any]
    created_by: str
    created_at: dt.datetime


EDITABLE = frozenset(
    {"title", "owner", "category", "description", "schedule", "value_type", "condition",
     "measure", "bands", "model", "output"}
)  # fmt: skip
"""What an edit may change; ``name`` and ``type`` identify the tag and never change."""


def create_tag(*, store: Store, doc: Any, principal: Principal) -> TagInfo:
    """Validate and save a new tag (409 if the name is taken); the owner defaults to the caller."""
    defn = validate_tag({"owner": principal.id, **doc} if isinstance(doc, dict) else doc)
    with store.session() as s:
        if s.get(TagRow, defn.name) is not None:
            raise ConflictError(f"tag {defn.name!r} already exists", where="name")
        s.add(_row(defn, principal))
        s.add(TagVersionRow(name=defn.name, version=1, definition=dump_tag(defn),
                            created_by=principal.id))  # fmt: skip
        audit.record(
            s,
            actor=principal,
            action="tag.create",
            target_type="tag",
            target_id=defn.name,
            after=dump_tag(defn),
        )
    return _info(defn, None)


def list_tags(
    *, store: Store, category: str | None = None, include_archived: bool = False
) -> list[TagInfo]:
    """The catalogue (optionally one category subtree), each with its latest run."""
    with store.session() as s:
        q = select(TagRow).order_by(TagRow.category, TagRow.name)
        if not include_archived:
            q = q.where(TagRow.archived_at.is_(None))
        if category:
            prefix = category.strip("/")
            q = q.where((TagRow.category == prefix) | TagRow.category.startswith(prefix + "/"))
        rows = list(s.scalars(q))
        runs = _latest_runs(s, [r.name for r in rows])
        return [_info(validate_tag(r.definition), runs.get(r.name), r) for r in rows]


def get_tag(*, store: Store, name: str) -> TagInfo:
    with store.session() as s:
        row = s.get(TagRow, name)
        if row is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        return _info(validate_tag(row.definition), _latest_runs(s, [name]).get(name), row)


def load_definitions(*, store: Store, names: Sequence[str] | None = None) -> list[TagDef]:
    """Definitions by name (every live tag when ``names`` is None); unknown names are
    404s, archived ones are refused."""
    with store.session() as s:
        rows = {r.name: r for r in s.scalars(select(TagRow))}
    if names is None:
        return [validate_tag(rows[n].definition) for n in sorted(rows) if not rows[n].archived_at]
    missing = [n for n in names if n not in rows]
    if missing:
        raise NotFoundError(f"no tag {missing[0]!r}", where="name")
    archived = [n for n in names if rows[n].archived_at is not None]
    if archived:
        raise ConflictError(f"tag {archived[0]!r} is archived; it is not run", where="name")
    return [validate_tag(rows[n].definition) for n in names]


def update_tag(*, store: Store, name: str, changes: Any, principal: Principal) -> TagInfo:
    """Change a tag's description, owner, schedule, rule … — a new version, audited.

    ``changes`` holds only the fields to change (see :data:`EDITABLE`); the merged
    definition is validated as a whole and errors name the field. Nothing changes when
    the result equals the current definition. Values already computed stay as they are
    (history); the next run uses the new version.
    """
    if not isinstance(changes, dict) or not changes:
        raise InvalidInputError("give the fields to change as a JSON object", where="$")
    for key in changes:
        if key in ("name", "type"):
            raise InvalidInputError(f"a tag's {key} cannot change; create a new tag", where=key)
        if key not in EDITABLE:
            raise InvalidInputError(f"{key!r} is not a tag field that can be edited", where=key)
    with store.session() as s:
        row = s.get(TagRow, name, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        if row.archived_at is not None:
            raise ConflictError(f"tag {name!r} is archived", where="name")
        before = dict(row.definition)
        defn = validate_tag({**before, **changes})
        after = dump_tag(defn)
        if after == before:
            return _info(defn, _latest_runs(s, [name]).get(name), row)
        row.version += 1
        row.title, row.owner, row.category = defn.title, defn.owner, defn.category
        row.description, row.schedule = defn.description, defn.schedule
        row.value_type, row.definition = defn.value_type, after
        row.updated_at = dt.datetime.now(dt.UTC)
        s.add(TagVersionRow(name=name, version=row.version, definition=after,
                            created_by=principal.id))  # fmt: skip
        audit.record(
            s,
            actor=principal,
            action="tag.update",
            target_type="tag",
            target_id=name,
            before=before,
            after={**after, "version": row.version},
        )
        s.flush()
        return _info(defn, _latest_runs(s, [name]).get(name), row)


def tag_versions(*, store: Store, name: str) -> list[TagVersion]:
    """Every definition the tag has had, oldest first."""
    with store.session() as s:
        if s.get(TagRow, name) is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        rows = s.scalars(
            select(TagVersionRow).where(TagVersionRow.name == name).order_by(TagVersionRow.version)
        )
        return [
            TagVersion(name=r.name, version=r.version, definition=r.definition,
                       created_by=r.created_by, created_at=r.created_at)
            for r in rows
        ]  # fmt: skip


def tag_references(*, store: Store, name: str) -> list[str]:
    """Who still refers to the tag: active segments' latest versions and journeys'
    versions that are not finished or archived (tag conditions, tag splits, tag actions)."""
    from opsloop.insight.segments.tables import SegmentRow, SegmentVersionRow
    from opsloop.strategy.models import JourneyVersionRow

    out = []
    with store.session() as s:
        segs = s.execute(
            select(SegmentRow.segment_id, SegmentVersionRow.definition)
            .join(
                SegmentVersionRow,
                (SegmentVersionRow.segment_id == SegmentRow.segment_id)
                & (SegmentVersionRow.version == SegmentRow.latest_version),
            )
            .where(SegmentRow.status == "active")
            .order_by(SegmentRow.segment_id)
        ).all()
        out += [f"segment {sid!r}" for sid, doc in segs if _mentions(doc, name)]
        journeys = s.execute(
            select(JourneyVersionRow.journey_id, JourneyVersionRow.version,
                   JourneyVersionRow.definition)
            .where(JourneyVersionRow.status.not_in(("finished", "archived")))
            .order_by(JourneyVersionRow.journey_id, JourneyVersionRow.version)
        ).all()  # fmt: skip
        out += [f"journey {jid!r} v{v}" for jid, v, doc in journeys if _mentions(doc, name)]
    return out


def archive_tag(*, store: Store, name: str, principal: Principal) -> TagInfo:
    """Retire a tag: no longer listed or run, its history kept for as-of reads; audited.

    Refused (409) while a segment or a journey refers to it, naming each one.
    """
    refs = tag_references(store=store, name=name)
    with store.session() as s:
        row = s.get(TagRow, name, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no tag {name!r}", where="name")
        if row.archived_at is not None:
            raise ConflictError(f"tag {name!r} is already archived", where="name")
        if refs:
            msg = f"tag {name!r} is still used by {', '.join(refs)}; remove it there first"
            raise ConflictError(msg, where="name")
        row.archived_at = dt.datetime.now(dt.UTC)
        row.archived_by = principal.id
        audit.record(
            s,
            actor=principal,
            action="tag.archive",
            target_type="tag",
            target_id=name,
            before={"version": row.version},
            after={"archived": True},
        )
        s.flush()
        return _info(validate_tag(row.definition), _latest_runs(s, [name]).get(name), row)


def prune_history(
    *,
    store: Store,
    wh: Warehouse,
    keep_days: int,
    today: dt.date,
    principal: Principal,
    dataset: str | None = None,
) -> int:
    """Drop daily values older than ``today - keep_days`` (each tag's latest day stays).

    The runs' coverage reports in ``tag_runs`` are kept. One statement in the engine;
    audited with the number of rows dropped. Returns that number.
    """
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
        raise InvalidInputError("keep_days must be a whole number of days >= 1", where="keep_days")
    from opsloop.insight.tags.values import TABLE

    if TABLE not in wh.tables(dataset):
        return 0
    if wh.read_only:
        raise InvalidInputError("the warehouse is open read-only; stop `opsloop serve` or use it")
    cutoff = today - dt.timedelta(days=keep_days)
    tv = wh.table(TABLE, dataset=dataset)
    latest = tv.group_by("tag").aggregate(last=tv.as_of.max())
    old = tv.filter(tv.as_of < ibis.literal(cutoff))
    old = old.join(latest, "tag").filter(lambda t: t.as_of < t["last"])
    n = int(wh.execute(old.count().as_table()).column(0)[0].as_py())
    if n:
        ds = dataset or wh.default_dataset
        target = f'"{ds}"."{TABLE}"'
        day = f"date '{cutoff.isoformat()}'"
        sql = (
            f"delete from {target} using (select tag, max(as_of) as last from {target} "
            f"group by tag) latest where {target}.tag = latest.tag "
            f"and {target}.as_of < latest.last and {target}.as_of < {day}"
        )
        with wh.lock:
            result = wh.con.raw_sql(sql)
            if wh.dialect != "duckdb":
                result.close()
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="tag.prune",
            target_type="tag_values",
            target_id=dataset or wh.default_dataset,
            after={"before": cutoff.isoformat(), "keep_days": keep_days, "rows": n},
        )
    return n


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
    retention_days: int | None = None,
) -> list[RunSummary]:
    """Compute tags for ``as_of`` (all when ``names`` is None), replace that day, record runs.

    With ``retention_days``, history older than that many days before ``as_of`` is
    pruned afterwards (:func:`prune_history`).
    """
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
    if retention_days is not None:
        prune_history(store=store, wh=wh, keep_days=retention_days, today=as_of,
                      principal=principal, dataset=dataset)  # fmt: skip
    return out


def due_tags(*, store: Store, now: dt.datetime, zone: ZoneInfo = BANK_ZONE) -> list[str]:
    """Tags whose cron ``schedule`` fired (however long ago) after their last run finished."""
    with store.session() as s:
        rows = list(
            s.scalars(
                select(TagRow).where(TagRow.schedule.is_not(None), TagRow.archived_at.is_(None))
            )
        )
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


def _mentions(doc: Any, name: str) -> bool:
    """Does a JSON document name the tag (``"tag": name`` anywhere in it)?"""
    if isinstance(doc, dict):
        return doc.get("tag") == name or any(_mentions(v, name) for v in doc.values())
    if isinstance(doc, list):
        return any(_mentions(v, name) for v in doc)
    return False


def _info(defn: TagDef, run: RunSummary | None, row: TagRow | None = None) -> TagInfo:
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
        version=row.version if row is not None and row.version else 1,
        archived_at=row.archived_at if row is not None else None,
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
