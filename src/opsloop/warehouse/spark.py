"""The warehouse on Spark: canonical tables as Parquet in a lake directory, read by Spark.

``OPSLOOP_WAREHOUSE=spark://MASTER?lake=/path`` — MASTER is ``local`` (all cores),
``local-N`` (N cores) or ``host:port`` of a Spark master. Each dataset is a folder of
the lake holding one folder per table version and a ``_manifest.json`` naming the
current version of every table; a load writes new version folders and then replaces the
manifest in one ``rename``, so readers see the old tables or the new ones, never a mix.
On open, every table in every manifest is registered with the Spark session, so
segments, tags and analyses (Ibis expressions) run on Spark unchanged, and any other
engine (Trino, DuckDB, a cluster Spark) can read the same Parquet.

Streamed rows (the Collection flusher's events) are *appended*: a new part file is
written under a hidden name in the table's current version folder, fsync'd and renamed
into place, so readers see each part whole or not at all (Parquet readers skip names
starting with ``.``). Loads and appends of one dataset hold an exclusive ``flock`` on
``DATASET/_lock`` so an append never lands in a version a load is replacing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.errors import InvalidInputError

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class SparkTarget:
    master: str
    lake: Path


def parse_spark_url(url: str) -> SparkTarget:
    """``spark://local-2?lake=/data/lake`` → master ``local[2]``, lake ``/data/lake``."""
    rest = url.removeprefix("spark://")
    host, _, query = rest.partition("?")
    lake = parse_qs(query).get("lake", [""])[0]
    if not lake:
        raise InvalidInputError(
            "a spark warehouse URL needs ?lake=/path (the Parquet lake)", where="OPSLOOP_WAREHOUSE"
        )
    if host in ("", "local"):
        master = "local[*]"
    elif host.startswith("local-") and host.removeprefix("local-").isdigit():
        master = f"local[{host.removeprefix('local-')}]"
    else:
        master = f"spark://{host}"
    return SparkTarget(master, Path(lake).expanduser().absolute())


def connect(target: SparkTarget) -> ibis.BaseBackend:
    """A Spark session for opsloop (no UI, UTC, few shuffle partitions on small masters)."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(target.master)
        .appName("opsloop")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(target.lake / "_spark"))
    )
    if target.master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "4")
    session = builder.getOrCreate()
    con = ibis.pyspark.connect(session)
    target.lake.mkdir(parents=True, exist_ok=True)
    for dataset_dir in sorted(p for p in target.lake.iterdir() if (p / MANIFEST).exists()):
        _register(con, dataset_dir.name, dataset_dir, _read_manifest(dataset_dir))
    return con


def replace_tables(
    con: ibis.BaseBackend, lake: Path, dataset: str, tables: Mapping[str, pa.Table]
) -> None:
    """Write each table as a new version folder, then switch the manifest atomically."""
    dataset_dir = lake / dataset
    dataset_dir.mkdir(parents=True, exist_ok=True)
    with _dataset_lock(dataset_dir):
        _replace_locked(con, dataset_dir, dataset, tables)


def _replace_locked(
    con: ibis.BaseBackend, dataset_dir: Path, dataset: str, tables: Mapping[str, pa.Table]
) -> None:
    manifest = _read_manifest(dataset_dir)
    written: dict[str, str] = {}
    try:
        for name, data in tables.items():
            version = f"{name}@{uuid.uuid4().hex[:12]}"
            folder = dataset_dir / version
            folder.mkdir()
            pq.write_table(data, folder / "part-0.parquet")
            written[name] = version
    except BaseException:
        for version in written.values():
            shutil.rmtree(dataset_dir / version, ignore_errors=True)
        raise
    old = {n: manifest[n] for n in written if n in manifest}
    manifest |= written
    tmp = dataset_dir / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    with tmp.open("w") as fh:
        fh.write(json.dumps(manifest, sort_keys=True, indent=1))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(dataset_dir / MANIFEST)  # the commit point (rename is atomic)
    _fsync_dir(dataset_dir)  # the rename itself survives a crash
    _register(con, dataset, dataset_dir, written)
    for version in old.values():  # readers of the old version have finished their query
        shutil.rmtree(dataset_dir / version, ignore_errors=True)


def append_rows(
    con: ibis.BaseBackend,
    lake: Path,
    dataset: str,
    name: str,
    data: pa.Table,
    key: tuple[str, ...],
) -> int:
    """Append the rows of ``data`` whose ``key`` is in no part of the table yet.

    Duplicates inside ``data`` keep their first row. The key check reads only the key
    columns of the table's parts (DuckDB over the Parquet files), so a redelivered batch
    adds nothing. Returns the number of rows appended.
    """
    import duckdb

    dataset_dir = lake / dataset
    dataset_dir.mkdir(parents=True, exist_ok=True)
    with _dataset_lock(dataset_dir):
        manifest = _read_manifest(dataset_dir)
        if name not in manifest:
            _replace_locked(con, dataset_dir, dataset, {name: data.slice(0, 0)})
            manifest = _read_manifest(dataset_dir)
        folder = dataset_dir / manifest[name]
        parts = sorted(str(f) for f in folder.glob("*.parquet"))
        keys = ", ".join(f'"{k}"' for k in key)
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        duck = duckdb.connect()
        try:
            pos = pa.array(range(data.num_rows), type=pa.int64())
            duck.register("batch", data.append_column("_pos", pos))
            first = (
                f"select * from batch qualify row_number() over "
                f"(partition by {keys} order by _pos) = 1"
            )
            if parts:
                duck.execute(
                    f"create temp table fresh as select b.* from ({first}) b anti join "
                    f"(select {keys} from read_parquet($parts)) p using ({keys}) order by _pos",
                    {"parts": parts},
                )
            else:
                duck.execute(f"create temp table fresh as {first} order by _pos")
            fresh = duck.execute(f"select {cols} from fresh order by _pos").fetch_arrow_table()
        finally:
            duck.close()
        if fresh.num_rows == 0:
            return 0
        part = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{part}.tmp"
        with tmp.open("wb") as fh:
            pq.write_table(fresh.cast(data.schema), fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(folder / part)  # the part appears whole
        _fsync_dir(folder)
        con.raw_sql(f"refresh table `{dataset}`.`{name}`")
        return int(fresh.num_rows)


@contextmanager
def _dataset_lock(dataset_dir: Path) -> Iterator[None]:
    fd = os.open(dataset_dir / "_lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def datasets(lake: Path) -> list[str]:
    """Datasets of the lake that hold a ``customers`` table."""
    if not lake.exists():
        return []
    return sorted(d.name for d in lake.iterdir() if "customers" in _read_manifest(d) and d.is_dir())


def _read_manifest(dataset_dir: Path) -> dict[str, str]:
    path = dataset_dir / MANIFEST
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return data


def _register(
    con: ibis.BaseBackend, dataset: str, dataset_dir: Path, tables: Mapping[str, str]
) -> None:
    con.raw_sql(f"create database if not exists `{dataset}`")
    for name, version in tables.items():
        location = str(dataset_dir / version).replace("'", "\\'")
        con.raw_sql(f"drop table if exists `{dataset}`.`{name}`")
        con.raw_sql(f"create table `{dataset}`.`{name}` using parquet location '{location}'")
