"""The warehouse adapter: the only place that talks to the analytical engine.

Centers build Ibis expressions from :meth:`Warehouse.table` and execute them here, so
the same expression runs on DuckDB (embedded default) or PostgreSQL (and, through
Ibis, on a cluster engine). A *dataset* is a DuckDB/PostgreSQL schema holding one
copy of the canonical tables: ``main`` for the synthetic bank (``public`` on
PostgreSQL), ``berka``/``bank_marketing``/``hillstrom`` for the real data sets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import ibis
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend
from sqlglot import exp

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.warehouse.readonly import check_read_only
from opsloop.warehouse.schema import TABLES_BY_NAME, conform

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
TableSource: TypeAlias = pa.Table | Path | list[Path]


def dataset_name(name: str) -> str:
    """Normalise a user's dataset name ("bank-marketing" → "bank_marketing")."""
    norm = name.strip().lower().replace("-", "_")
    if not _IDENT.match(norm):
        raise InvalidInputError(f"dataset name {name!r} must be letters, digits, '-' or '_'")
    return norm


@dataclass
class Warehouse:
    """An open warehouse: an Ibis backend plus which dataset is the default."""

    con: ibis.BaseBackend
    url: str
    read_only: bool = False
    # One engine connection serves every thread of a server process: calls take turns
    # (the engine parallelises each query itself).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def dialect(self) -> str:
        if isinstance(self.con, DuckDBBackend):
            return "duckdb"
        return "spark" if self.url.startswith("spark://") else "postgres"

    @property
    def default_dataset(self) -> str:
        return {"duckdb": "main", "spark": "default"}.get(self.dialect, "public")

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> Warehouse:
        """Open a DuckDB file (``path`` or ``duckdb://path``), a ``postgresql://`` URL, or
        ``spark://MASTER?lake=/path`` (Parquet lake read by Spark, see warehouse/spark.py)."""
        pg = postgres_url(url)
        if pg is not None:
            return cls(ibis.connect(pg), url)
        if url.startswith("spark://"):
            from opsloop.warehouse import spark

            return cls(spark.connect(spark.parse_spark_url(url)), url, read_only=read_only)
        path = url.removeprefix("duckdb://")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if read_only and not Path(path).exists():
                raise NotFoundError(
                    f"no warehouse at {path}: run `opsloop generate` or `opsloop load`"
                )
        try:
            con = ibis.duckdb.connect(path, read_only=read_only)
            if not read_only:
                # Bulk loads parallelise far better without keeping insertion order; no
                # opsloop query relies on physical order (results are ordered explicitly).
                con.raw_sql("set preserve_insertion_order = false")
        except duckdb.IOException as exc:
            msg = (
                f"the warehouse {path} is held by another process (a running `opsloop serve`?): "
                "stop it, or use commands that go through the server"
            )
            raise WarehouseBusyError(msg, where=path) from exc
        return cls(con, url, read_only=read_only)

    def close(self) -> None:
        self.con.disconnect()

    # -- reading ---------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        """Datasets (schemas) that hold a ``customers`` table."""
        sql = (
            "select table_schema from information_schema.tables "
            "where table_name = 'customers' order by 1"
        )
        if self.dialect == "spark":
            from opsloop.warehouse import spark

            return spark.datasets(spark.parse_spark_url(self.url).lake)
        with self.lock:
            return [str(r[0]) for r in self._raw_fetch(sql)]

    def tables(self, dataset: str | None = None) -> list[str]:
        ds = self._dataset(dataset)
        with self.lock:
            return sorted(self.con.list_tables(database=ds))

    def table(self, name: str, *, dataset: str | None = None) -> ibis.Table:
        ds = self._dataset(dataset)
        with self.lock:  # reading the schema uses the shared connection too
            if name not in self.tables(ds):
                raise NotFoundError(f"table {name!r} is not in dataset {ds!r}", where="table")
            return self.con.table(name, database=ds)

    def execute(self, expr: ibis.Expr) -> pa.Table:
        """Run an Ibis expression here and return Arrow."""
        with self.lock:
            return self.con.to_pyarrow(expr)

    def sql(self, query: str, *, dataset: str | None = None, limit: int | None = None) -> pa.Table:
        """Run one read-only SQL statement (checked by SQLGlot before it reaches the engine)."""
        ds = self._dataset(dataset)
        allowed = frozenset(self.tables(ds))
        tree = check_read_only(query, dialect=self.dialect, allowed_tables=allowed)
        if limit is not None and isinstance(tree, exp.Query) and not tree.args.get("limit"):
            tree = tree.limit(limit)
        text = tree.sql(dialect=self.dialect)
        with self.lock:
            if self.dialect == "duckdb":
                cur = self._duck().cursor()
                try:
                    cur.execute(f"set search_path = '{ds}'")
                    return cur.execute(text).to_arrow_table()
                finally:
                    cur.close()
            qualified = tree.transform(lambda n: _qualify(n, ds)).sql(dialect=self.dialect)
            return self.con.sql(qualified).to_pyarrow()

    # -- writing ---------------------------------------------------------------------------
    def replace_tables(
        self, tables: Mapping[str, TableSource], *, dataset: str | None = None
    ) -> None:
        """Create or replace whole tables in one transaction: all of them land, or none.

        Canonical tables are checked against :mod:`opsloop.warehouse.schema` first. A source
        is an Arrow table or Parquet file(s) (loaded by the engine's own reader).
        """
        if self.read_only:
            raise InvalidInputError("the warehouse is open read-only")
        ds = self._dataset(dataset)
        with self.lock:
            if self.dialect == "duckdb":
                self._replace_tables_duckdb(tables, ds)
            elif self.dialect == "spark":
                self._replace_tables_spark(tables, ds)
            else:
                self._replace_tables_ibis(tables, ds)

    def _replace_tables_spark(self, tables: Mapping[str, TableSource], ds: str) -> None:
        from opsloop.warehouse import spark

        prepared: dict[str, pa.Table] = {}
        for name, source in tables.items():
            _check_ident(name)
            data = source if isinstance(source, pa.Table) else _read_parquet(source)
            prepared[name] = conform(TABLES_BY_NAME[name], data) if name in TABLES_BY_NAME else data
        spark.replace_tables(self.con, spark.parse_spark_url(self.url).lake, ds, prepared)

    def _replace_tables_duckdb(self, tables: Mapping[str, TableSource], ds: str) -> None:
        con = self._duck()
        con.execute("begin transaction")
        try:
            con.execute(f'create schema if not exists "{ds}"')
            for name, source in tables.items():
                _check_ident(name)
                target = f'"{ds}"."{name}"'
                if isinstance(source, pa.Table):
                    data = (
                        conform(TABLES_BY_NAME[name], source) if name in TABLES_BY_NAME else source
                    )
                    con.register("_opsloop_src", data)
                    con.execute(f"create or replace table {target} as select * from _opsloop_src")
                    con.unregister("_opsloop_src")
                else:
                    files = [source] if isinstance(source, Path) else list(source)
                    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                    reader = f"read_parquet([{listing}])"
                    con.execute(f"create or replace table {target} as select * from {reader}")
                    if name in TABLES_BY_NAME:
                        _check_columns(con, ds, name)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def _replace_tables_ibis(self, tables: Mapping[str, TableSource], ds: str) -> None:
        """Write into a staging schema, then swap every table in one transaction.

        PostgreSQL DDL is transactional, so readers see the old tables or the new ones,
        never a mix, and a failure while writing leaves the dataset as it was.
        """
        import uuid

        import psycopg

        staging = f"{ds}__staging_{uuid.uuid4().hex[:8]}"
        prepared: dict[str, pa.Table] = {}
        for name, source in tables.items():
            _check_ident(name)
            data = source if isinstance(source, pa.Table) else _read_parquet(source)
            prepared[name] = conform(TABLES_BY_NAME[name], data) if name in TABLES_BY_NAME else data
        self.con.raw_sql(f'create schema "{staging}"').close()
        try:
            for name, data in prepared.items():
                self.con.create_table(name, data, database=staging)
            with psycopg.connect(postgres_url(self.url) or self.url) as pg, pg.transaction():
                pg.execute(f'create schema if not exists "{ds}"')
                for name in prepared:
                    pg.execute(f'drop table if exists "{ds}"."{name}"')
                    pg.execute(f'alter table "{staging}"."{name}" set schema "{ds}"')
        finally:
            self.con.raw_sql(f'drop schema if exists "{staging}" cascade').close()

    def checksum(self, name: str, *, dataset: str | None = None) -> str:
        """An order-independent content hash of a table (for determinism checks)."""
        ds = self._dataset(dataset)
        _check_ident(name)
        with self.lock:
            rows = self._raw_fetch(
                f'select count(*), coalesce(sum(hash(t)::hugeint), 0) from "{ds}"."{name}" t'
            )
        count, digest = rows[0]
        return f"{count}:{digest}"

    # -- internals -------------------------------------------------------------------------
    def _dataset(self, dataset: str | None) -> str:
        return dataset_name(dataset) if dataset else self.default_dataset

    def _duck(self) -> duckdb.DuckDBPyConnection:
        con: duckdb.DuckDBPyConnection = self.con.con  # type: ignore[attr-defined]
        return con

    def _raw_fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.dialect == "duckdb":
            return list(self._duck().execute(sql).fetchall())
        with self.con.raw_sql(sql) as cur:  # type: ignore[attr-defined]
            return list(cur.fetchall())


class WarehouseBusyError(InvalidInputError):
    """Another process holds the DuckDB file for writing (usually ``opsloop serve``)."""

    status_code = 409


def postgres_url(url: str) -> str | None:
    """``postgresql://…`` for any PostgreSQL URL form (incl. SQLAlchemy's
    ``postgresql+psycopg://``), or None when ``url`` names a DuckDB file."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return None


def _read_parquet(source: Path | Iterable[Path]) -> pa.Table:
    files = [source] if isinstance(source, Path) else list(source)
    return pa.concat_tables([pq.read_table(f) for f in files])


def _check_ident(name: str) -> None:
    if not _IDENT.match(name):
        raise InvalidInputError(f"table name {name!r} is not a plain identifier")


def _check_columns(con: duckdb.DuckDBPyConnection, ds: str, name: str) -> None:
    got = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [ds, name],
        ).fetchall()
    }
    missing = [c for c in TABLES_BY_NAME[name].column_names if c not in got]
    if missing:
        raise InvalidInputError(f"table {name}: missing canonical columns {missing}")


def _qualify(node: Any, ds: str) -> Any:
    if isinstance(node, exp.Table) and not node.db and not isinstance(node.this, exp.Func):
        node.set("db", exp.to_identifier(ds))
    return node
