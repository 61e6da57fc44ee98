"""Snapshots of a segment's members: materialise, refresh on schedule, export, upload.

A snapshot is written set-wise into the warehouse table ``segment_members`` (segment,
version, materialised_at, customer_id) with one ``INSERT … SELECT`` of the compiled
segment — the ids never pass through Python — and its size goes to the store's
``segment_snapshots`` (the size history). Materialising runs the query through the
caller's scope *and* the segment's own subtree, so it is refused to callers whose scope
does not cover the segment (a branch cannot overwrite head office's snapshot with its
own slice). Reading members (export, profile, history for a branch) always semi-joins
the snapshot with the caller's scoped customers: a branch sees only its own customers
in a segment head office shared with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from opsloop.access import audit
from opsloop.access.clock import as_utc, utcnow
from opsloop.access.crypto import PII_FIELDS, PiiCipher
from opsloop.access.csvsafe import to_csv
from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from opsloop.insight.segments import store as segstore
from opsloop.insight.segments.compiler import compile_segment
from opsloop.insight.segments.service import WarehouseTables, data_as_of
from opsloop.insight.segments.tables import SegmentRow, SegmentSnapshotRow
from opsloop.store import Store
from opsloop.warehouse import Warehouse

MEMBERS = "segment_members"
MEMBERS_SCHEMA = ibis.schema(
    {
        "segment_id": "string",
        "version": "int32",
        "materialised_at": "timestamp(6)",
        "customer_id": "int64",
    }
)
EXPORT_COLUMNS = (
    "customer_id",
    "org_id",
    "org_path",
    "rm_id",
    "gender",
    "city",
    "kyc_risk_level",
    "opened_on",
)
MAX_UPLOAD_IDS = 500_000


# -- materialise ---------------------------------------------------------------------------


def _members_table(wh: Warehouse, dataset: str | None) -> ibis.Table:
    """``segment_members`` in the dataset, created empty on first use."""
    ds = dataset or wh.default_dataset
    with wh.lock:
        if MEMBERS not in wh.tables(ds):
            wh.con.create_table(MEMBERS, schema=MEMBERS_SCHEMA, database=ds)  # type: ignore[attr-defined]
    return wh.table(MEMBERS, dataset=ds)


def _naive_utc(at: dt.datetime) -> dt.datetime:
    return as_utc(at).replace(tzinfo=None)


def materialise(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    segment_id: str,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    ip: str | None = None,
) -> dict[str, Any]:
    """Write a snapshot of the segment's members; return its version, time and size.

    Raises:
        ForbiddenError: the caller's scope does not cover the segment's subtree.
    """
    seg = segstore.get(store, segment_id=segment_id, principal=principal)
    if seg.status != "active":
        raise ConflictError(f"segment {segment_id!r} is archived", where="segment_id")
    if not segstore.covers(principal, seg.org_path):
        raise ForbiddenError(
            f"segment {segment_id!r} covers {seg.org_path}; materialising it needs a scope "
            f"that covers that subtree (yours: {principal.org_path})",
            where="segment_id",
        )
    day = as_of or data_as_of(wh=wh, dataset=seg.dataset)
    at = _naive_utc(now or utcnow())
    ids = compile_segment(
        seg.definition,
        wh_tables=WarehouseTables(wh, seg.dataset),
        as_of=day,
        scope_prefix=seg.org_path,
        resolve=segstore.resolver(store, principal),
        principal=principal,
    )
    rows = ids.select(
        segment_id=ibis.literal(segment_id, "string"),
        version=ibis.literal(seg.version, "int32"),
        materialised_at=ibis.literal(at, "timestamp(6)"),
        customer_id=ids.customer_id,
    )
    members = _members_table(wh, seg.dataset)
    with wh.lock:
        wh.con.insert(MEMBERS, rows, database=seg.dataset or wh.default_dataset)  # type: ignore[attr-defined]
    mine = members.filter(members.segment_id == segment_id, members.materialised_at == at)
    size = int(wh.execute(mine.count().name("n").as_table()).column(0)[0].as_py())
    with store.session() as s:
        s.add(
            SegmentSnapshotRow(
                segment_id=segment_id,
                version=seg.version,
                materialised_at=at.replace(tzinfo=dt.UTC),
                as_of=day,
                size=size,
                created_by=segstore.person(principal),
            )
        )
        audit.record(
            s,
            actor=principal,
            action="segment.materialise",
            target_type="segment",
            target_id=segment_id,
            ip=ip,
            after={"version": seg.version, "as_of": day.isoformat(), "size": size},
        )
    return {
        "segment_id": segment_id,
        "version": seg.version,
        "materialised_at": at.replace(tzinfo=dt.UTC),
        "as_of": day,
        "size": size,
    }


def _latest(store: Store, segment_id: str) -> SegmentSnapshotRow | None:
    with store.session() as s:
        q = (
            select(SegmentSnapshotRow)
            .where(SegmentSnapshotRow.segment_id == segment_id)
            .order_by(SegmentSnapshotRow.materialised_at.desc(), SegmentSnapshotRow.id.desc())
            .limit(1)
        )
        return s.scalars(q).first()


def snapshot_members(
    store: Store, wh: Warehouse, *, principal: Principal, segment_id: str
) -> tuple[SegmentSnapshotRow, ibis.Table]:
    """The latest snapshot and its members *in the caller's scope* (customers columns)."""
    seg = segstore.get(store, segment_id=segment_id, principal=principal)
    snap = _latest(store, segment_id)
    if snap is None:
        raise ConflictError(
            f"segment {segment_id!r} has no snapshot yet: materialise it first",
            where="segment_id",
        )
    members = _members_table(wh, seg.dataset)
    at = _naive_utc(snap.materialised_at)
    ids = members.filter(members.segment_id == segment_id, members.materialised_at == at)
    customers = scoped_customers(wh.table("customers", dataset=seg.dataset), principal)
    return snap, customers.semi_join(ids, customers.customer_id == ids.customer_id)


# -- history --------------------------------------------------------------------------------


def history(
    store: Store, wh: Warehouse, *, principal: Principal, segment_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """Size of every snapshot, newest first — counted in the caller's scope.

    Callers whose scope covers the segment get the stored sizes; a branch looking at a
    shared segment gets each snapshot counted over its own customers only.
    """
    seg = segstore.get(store, segment_id=segment_id, principal=principal)
    rows = segstore.snapshots(store, principal=principal, segment_id=segment_id, limit=limit)
    if segstore.covers(principal, seg.org_path) or not rows:
        return rows
    members = _members_table(wh, seg.dataset)
    customers = scoped_customers(wh.table("customers", dataset=seg.dataset), principal)
    mine = members.filter(members.segment_id == segment_id)
    mine = mine.semi_join(customers, mine.customer_id == customers.customer_id)
    counts = mine.group_by("materialised_at").aggregate(n=mine.count())
    by_at = {r["materialised_at"]: r["n"] for r in wh.execute(counts).to_pylist()}
    return [r | {"size": int(by_at.get(_naive_utc(r["materialised_at"]), 0))} for r in rows]


# -- scheduled refresh ----------------------------------------------------------------------


def refresh_due(
    store: Store, wh: Warehouse, *, now: dt.datetime, zone: ZoneInfo = ZoneInfo("Asia/Shanghai")
) -> list[dict[str, Any]]:
    """Materialise every active segment whose cron fired since its latest snapshot.

    The scheduler (or ``opsloop segment refresh --due``) calls this; a segment is
    refreshed as a system principal scoped to the segment's own subtree, at most once
    per firing however often this runs. The latest firing is computed directly
    (:func:`opsloop.insight.schedule.latest_fire`), so a monthly or yearly schedule whose
    firing is long past still counts, and many segments stay cheap.
    """
    from opsloop.insight.schedule import latest_fire

    with store.session() as s:
        last = (
            select(
                SegmentSnapshotRow.segment_id,
                func.max(SegmentSnapshotRow.materialised_at).label("at"),
            )
            .group_by(SegmentSnapshotRow.segment_id)
            .subquery()
        )
        q = (
            select(SegmentRow, last.c.at)
            .outerjoin(last, last.c.segment_id == SegmentRow.segment_id)
            .where(SegmentRow.status == "active", SegmentRow.refresh_cron.is_not(None))
            .order_by(SegmentRow.segment_id)
        )
        candidates = [(r.segment_id, r.org_path, r.refresh_cron, at) for r, at in s.execute(q)]
    done = []
    for segment_id, org_path, cron, at in candidates:
        assert cron is not None
        fired = latest_fire(cron, now, zone)  # day by day, however long ago
        if fired is None or (at is not None and as_utc(at) >= fired):
            continue
        system = Principal(
            id="segment-scheduler",
            kind="system",
            org_path=org_path,
            permissions=frozenset({"segment:read", "segment:write"}),
        )
        done.append(materialise(store, wh, principal=system, segment_id=segment_id, now=now))
    return done


# -- export ---------------------------------------------------------------------------------


def export(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    segment_id: str,
    fmt: str = "csv",
    reveal: bool = False,
    cipher: PiiCipher | None = None,
    ip: str | None = None,
) -> bytes:
    """The latest snapshot's members in the caller's scope as CSV or Parquet; audited.

    PII is masked unless ``reveal`` and the caller has ``pii:view``.
    """
    if fmt not in ("csv", "parquet"):
        raise InvalidInputError(f"format {fmt!r}: use csv or parquet", where="format")
    if reveal and not principal.can("pii:view"):
        raise ForbiddenError("revealing PII needs permission pii:view", where="reveal")
    seg = segstore.get(store, segment_id=segment_id, principal=principal)
    snap, members = snapshot_members(store, wh, principal=principal, segment_id=segment_id)
    cols = {f: members[f"{f}_masked"] for f in PII_FIELDS}
    table = wh.execute(members.select(*EXPORT_COLUMNS, **cols).order_by("customer_id"))
    if reveal and cipher is not None and table.num_rows:
        from opsloop.insight.customers import _reveal

        ids = table.column("customer_id").to_pylist()
        clear = _reveal(wh, principal, ids, cipher, seg.dataset)
        for f in PII_FIELDS:
            values = [clear.get(i, {}).get(f) for i in ids]
            table = table.set_column(
                table.schema.get_field_index(f), f, pa.array(values, pa.string())
            )
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="segment.export",
            target_type="segment",
            target_id=segment_id,
            ip=ip,
            after={
                "rows": table.num_rows,
                "format": fmt,
                "revealed": reveal,
                "version": snap.version,
                "materialised_at": as_utc(snap.materialised_at).isoformat(),
            },
        )
    if fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    columns = table.column_names
    return to_csv(columns, (list(r.values()) for r in table.to_pylist())).encode()


# -- upload ---------------------------------------------------------------------------------


def parse_ids(data: bytes) -> list[int]:
    """Customer ids from a CSV: one per line, first column, optional ``customer_id`` header.

    Raises:
        InvalidInputError: naming the first line that is not an id.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("the file is not UTF-8 text", where="file") from None
    ids: list[int] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip():
            continue
        cell = row[0].strip()
        if n == 1 and cell.lower() == "customer_id":
            continue
        if not cell.isdigit() or len(cell) > 18:
            raise InvalidInputError(f"{cell[:40]!r} is not a customer id", where=f"file line {n}")
        ids.append(int(cell))
    if not ids:
        raise InvalidInputError("no customer ids in the file", where="file")
    if len(ids) > MAX_UPLOAD_IDS:
        raise InvalidInputError(f"more than {MAX_UPLOAD_IDS} ids", where="file")
    return sorted(set(ids))


def upload(
    store: Store,
    wh: Warehouse,
    *,
    principal: Principal,
    segment_id: str,
    name: str,
    data: bytes,
    dataset: str | None = None,
    ip: str | None = None,
) -> dict[str, Any]:
    """A static segment from a CSV of ids (created, or a new version), then materialised.

    Every id must be a customer in the caller's scope; otherwise nothing is saved and the
    error lists (the first of) the ids refused.
    """
    ids = parse_ids(data)
    customers = scoped_customers(wh.table("customers", dataset=dataset), principal)
    found_expr = customers.filter(customers.customer_id.isin(ids)).select("customer_id")
    found = set(wh.execute(found_expr).column(0).to_pylist())
    outside = [i for i in ids if i not in found]
    if outside:
        shown = ", ".join(str(i) for i in outside[:10])
        more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
        raise InvalidInputError(
            f"{len(outside)} id(s) are not customers in your scope: {shown}{more}",
            where="file",
        )
    doc = {
        "id": segment_id,
        "name": name,
        "description": f"uploaded list of {len(ids)} customer ids",
        "root": {"kind": "attribute", "field": "customer_id", "op": "in", "value": ids},
    }
    try:
        segstore.get(store, segment_id=segment_id, principal=principal)
        exists = True
    except NotFoundError:  # absent or invisible: create (an id clash raises there)
        exists = False
    if exists:
        segstore.update(store, principal=principal, segment_id=segment_id, doc=doc, ip=ip)
    else:
        segstore.create(store, principal=principal, doc=doc, kind="static", dataset=dataset, ip=ip)
    return materialise(store, wh, principal=principal, segment_id=segment_id, ip=ip)


# -- profile --------------------------------------------------------------------------------


def segments_of(
    store: Store, wh: Warehouse, *, principal: Principal, customer_id: int, dataset: str | None
) -> list[dict[str, Any]]:
    """Segments whose latest snapshot holds the customer, among those the caller may see."""
    ds = dataset or wh.default_dataset
    if MEMBERS not in wh.tables(ds):
        return []
    m = wh.table(MEMBERS, dataset=ds)
    latest = m.group_by("segment_id").aggregate(last=m.materialised_at.max())
    hit = m.filter(m.customer_id == customer_id)
    hit = hit.join(
        latest, [hit.segment_id == latest.segment_id, hit.materialised_at == latest["last"]]
    )
    rows = wh.execute(hit.select("segment_id", "version", "materialised_at")).to_pylist()
    out = []
    for r in sorted(rows, key=lambda r: r["segment_id"]):
        try:  # only the few segments holding the customer are looked up
            seg = segstore.get(store, segment_id=r["segment_id"], principal=principal)
        except NotFoundError:
            continue
        if seg.status == "active":
            at = r["materialised_at"].replace(tzinfo=dt.UTC)
            out.append(
                {
                    "segment_id": seg.segment_id,
                    "name": seg.name,
                    "version": r["version"],
                    "materialised_at": at,
                }
            )
    return out
