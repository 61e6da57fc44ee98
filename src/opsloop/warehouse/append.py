"""Appending rows to a canonical table, idempotent on its key (for streamed events).

``Warehouse.replace_tables`` rewrites whole tables; the event flusher needs to add a
few thousand rows every second and to survive redelivery (the log delivers at least
once), so rows whose key is already in the table are skipped, in one transaction.
"""

from __future__ import annotations

import uuid

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
