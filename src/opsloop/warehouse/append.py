"""Appending rows to a canonical table, exactly once, for streamed events.

``Warehouse.replace_tables`` rewrites whole tables; the event flusher needs to add a
few thousand rows every second and to survive redelivery (the log delivers at least
once). Two ways:

* :func:`append` skips rows whose key is already in the table (an anti-join against
  the whole table: its cost grows with the table, so it is for imports and for
  streams read by several processes);
* :func:`append_from_stream` stores the stream position reached in the same DuckDB
  transaction as the rows and skips records below it on redelivery: constant cost,
  for the one flusher of the embedded log (whose ids are already unique at
  acknowledgement).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pyarrow as pa

from opsloop.errors import InvalidInputError
from opsloop.warehouse.engine import Warehouse, dataset_name
from opsloop.warehouse.schema import TABLES_BY_NAME, conform


def append(wh: Warehouse, table_name: str, data: pa.Table, dataset: str | None = None) -> int:
    """Insert the rows of ``data`` whose key is not in ``table_name`` yet; returns how many.

    The table is created (empty, canonical schema) if missing. Duplicates inside
    ``data`` keep their first row.
    """
    if wh.read_only:
        raise InvalidInputError("the warehouse is open read-only")
    spec = TABLES_BY_NAME.get(table_name)
    if spec is None:
        raise InvalidInputError(f"{table_name!r} is not a canonical table", where="table")
    data = conform(spec, data).select(list(spec.column_names))
    ds = dataset_name(dataset) if dataset else wh.default_dataset
    target = f'"{ds}"."{table_name}"'
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    key = " and ".join(f't."{k}" = s."{k}"' for k in spec.key)
    part = ", ".join(f'"{k}"' for k in spec.key)
    dedup = (
        f"select {cols} from (select *, row_number() over (partition by {part}) as _rn "
        f"from {{src}}) d where _rn = 1"
    )
    with wh.lock:
        if wh.dialect == "spark":
            from opsloop.warehouse import spark

            lake = spark.parse_spark_url(wh.url).lake
            return spark.append_rows(wh.con, lake, ds, table_name, data, tuple(spec.key))
        if wh.dialect == "duckdb":
            return _append_duckdb(wh, ds, target, cols, key, dedup, table_name, data)
        return _append_ibis(wh, ds, target, cols, key, dedup, table_name, data)


OFFSETS = "_opsloop_stream_offsets"


def stream_offset(wh: Warehouse, consumer: str, dataset: str | None = None) -> int:
    """The stream position whose records before it are in the warehouse (0: none yet)."""
    ds = dataset_name(dataset) if dataset else wh.default_dataset
    with wh.lock:
        con = wh._duck()
        found = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [ds, OFFSETS],
        ).fetchall()[0][0]
        if not found:
            return 0
        rows = con.execute(
            f'select next_offset from "{ds}"."{OFFSETS}" where consumer = ?', [consumer]
        ).fetchall()
    return int(rows[0][0]) if rows else 0


def append_from_stream(
    wh: Warehouse,
    table_name: str,
    data: pa.Table,
    *,
    consumer: str,
    offsets: Sequence[int],
    next_offset: int,
    dataset: str | None = None,
) -> int:
    """Insert the rows of ``data`` (row ``i`` read at stream position ``offsets[i]``)
    that lie at or after the position stored for ``consumer``, and store
    ``next_offset`` as that position, in one transaction; returns rows inserted.

    DuckDB only (the one-process embedded warehouse); a redelivered batch — the log's
    consumer position is committed after this returns — is skipped by position, so no
    lookup of keys in the table is needed."""
    if wh.read_only:
        raise InvalidInputError("the warehouse is open read-only")
    if wh.dialect != "duckdb":
        raise InvalidInputError("appending by stream position needs the DuckDB warehouse")
    if len(offsets) != data.num_rows:
        raise InvalidInputError(f"{len(offsets)} offsets for {data.num_rows} rows", where="offsets")
    spec = TABLES_BY_NAME[table_name]
    data = conform(spec, data).select(list(spec.column_names))
    ds = dataset_name(dataset) if dataset else wh.default_dataset
    target = f'"{ds}"."{table_name}"'
    src = "_opsloop_stream_src"
    with wh.lock:
        con = wh._duck()
        con.execute("begin transaction")
        try:
            con.execute(f'create schema if not exists "{ds}"')
            con.execute(
                f'create table if not exists "{ds}"."{OFFSETS}" '
                "(consumer varchar primary key, next_offset bigint not null)"
            )
            rows = con.execute(
                f'select next_offset from "{ds}"."{OFFSETS}" where consumer = ?', [consumer]
            ).fetchall()
            done = int(rows[0][0]) if rows else 0
            if offsets and min(offsets) < done:
                keep = pa.array([o >= done for o in offsets])
                data = data.filter(keep)
            con.register(src, data)
            con.execute(f"create table if not exists {target} as select * from {src} limit 0")
            if data.num_rows:
                cols = ", ".join(f'"{c}"' for c in spec.column_names)
                con.execute(f"insert into {target} ({cols}) select {cols} from {src}")
            con.unregister(src)
            con.execute(
                f'insert or replace into "{ds}"."{OFFSETS}" values (?, ?)',
                [consumer, max(done, next_offset)],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return int(data.num_rows)


def _append_duckdb(
    wh: Warehouse,
    ds: str,
    target: str,
    cols: str,
    key: str,
    dedup: str,
    name: str,
    data: pa.Table,
) -> int:
    con = wh._duck()
    src = "_opsloop_append_src"
    con.execute("begin transaction")
    try:
        con.execute(f'create schema if not exists "{ds}"')
        con.register(src, data)
        con.execute(f"create table if not exists {target} as select * from {src} limit 0")
        before = con.execute(f"select count(*) from {target}").fetchall()[0][0]
        con.execute(
            f"insert into {target} ({cols}) select {cols} from ({dedup.format(src=src)}) s "
            f"where not exists (select 1 from {target} t where {key})"
        )
        after = con.execute(f"select count(*) from {target}").fetchall()[0][0]
        con.unregister(src)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return int(after) - int(before)


def _append_ibis(
    wh: Warehouse,
    ds: str,
    target: str,
    cols: str,
    key: str,
    dedup: str,
    name: str,
    data: pa.Table,
) -> int:
    wh.con.raw_sql(f'create schema if not exists "{ds}"').close()
    if name not in wh.con.list_tables(database=ds):
        wh.con.create_table(name, schema=TABLES_BY_NAME[name].schema, database=ds)
    tmp = f"_opsloop_append_{uuid.uuid4().hex[:12]}"
    wh.con.create_table(tmp, data, database=ds)
    src = f'"{ds}"."{tmp}"'
    try:
        with wh.con.raw_sql(  # type: ignore[attr-defined]
            f"insert into {target} ({cols}) select {cols} from ({dedup.format(src=src)}) s "
            f"where not exists (select 1 from {target} t where {key})"
        ) as cur:
            inserted = int(cur.rowcount)
        wh.con.con.commit()  # type: ignore[attr-defined]
    finally:
        wh.con.raw_sql(f"drop table if exists {src}").close()
    return inserted
