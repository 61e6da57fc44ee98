"""`generate_bank`: build the synthetic bank into the warehouse, store and truth file.

Chunks of customers are generated (in up to ``workers`` processes) into Parquet files
under a staging directory in HOME, loaded by one atomic ``replace_tables`` call, and
the staging directory is removed. The org tree, RMs and products are mirrored into
the operational store, and a ``DatasetLoad`` row records the run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import delete, insert, select, update

from opsloop.errors import InvalidInputError
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.store.models import DatasetLoad, OrgUnit, Product, RelationshipManager
from opsloop.synth.chunk import TRUTH_TABLES, ChunkSpec, _bank, run_chunk
from opsloop.warehouse import Warehouse

BANK_TABLES = ("org_units", "relationship_managers", "products")
Progress = Callable[[int, int], None]


@dataclass
class GenerateResult:
    """What was generated: rows per warehouse table and per ground-truth table."""

    rows: dict[str, int] = field(default_factory=dict)
    truth_rows: dict[str, int] = field(default_factory=dict)
    staging: Path | None = None


def generate_bank(
    *,
    settings: Settings,
    customers: int,
    months: int,
    seed: int,
    start: str = "2025-01",
    dataset: str | None = None,
    chunk_size: int = 100_000,
    workers: int = 2,
    keep_staging: bool = False,
    progress: Progress | None = None,
) -> GenerateResult:
    """Generate ``customers`` customers with ``months`` months of history from ``start``.

    Same ``(seed, customers, months, start, chunk_size)`` → byte-identical tables,
    whatever ``workers`` is. With ``keep_staging`` the Parquet files are kept (and
    their directory returned) for inspection or benchmarking.
    """
    if customers < 1 or months < 1 or chunk_size < 1:
        raise InvalidInputError("customers, months and chunk size must be positive")
    home = settings.ensure_home()
    staging = home / f"staging-synth-{seed}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    spec = ChunkSpec(
        seed, customers, months, start, chunk_size, staging, settings.resolved_secret_key()
    )
    bank = _bank(spec)
    for name in BANK_TABLES:
        folder = staging / name
        folder.mkdir()
        pq.write_table(getattr(bank, name), folder / "part-00000.parquet", compression="snappy")
    n_chunks = -(-customers // chunk_size)
    result = GenerateResult()
    done = 0
    if workers <= 1 or n_chunks == 1:
        for i in range(n_chunks):
            _add(result.rows, run_chunk(spec, i))
            done += 1
            if progress:
                progress(done, n_chunks)
    else:
        with ProcessPoolExecutor(min(workers, n_chunks), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_chunk, spec, i) for i in range(n_chunks)]
            for fut in as_completed(futures):
                _add(result.rows, fut.result())
                done += 1
                if progress:
                    progress(done, n_chunks)
    for name in BANK_TABLES:
        result.rows[name] = getattr(bank, name).num_rows
    for name in TRUTH_TABLES:
        result.truth_rows[name] = result.rows.pop(name)

    def files(name: str) -> list[Path]:
        return sorted((staging / name).glob("*.parquet"))

    warehouse_tables = {name: files(name) for name in result.rows}
    wh = Warehouse.open(settings.warehouse)
    if wh.dialect == "duckdb":
        wh.con.raw_sql("set enable_progress_bar = false")
    try:
        wh.replace_tables(warehouse_tables, dataset=dataset)
    finally:
        wh.close()
    truth = Warehouse.open(str(settings.ground_truth_path))
    try:
        truth.replace_tables({name: files(name) for name in TRUTH_TABLES})
    finally:
        truth.close()
    _write_store(settings, bank, dataset or "main", result.rows,
                 {"customers": customers, "months": months, "seed": seed, "start": start,
                  "chunk_size": chunk_size})  # fmt: skip
    if keep_staging:
        result.staging = staging
    else:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for k, v in part.items():
        total[k] = total.get(k, 0) + v


def _write_store(
    settings: Settings, bank: object, dataset: str, rows: dict[str, int], params: dict[str, object]
) -> None:
    """Replace org units, RMs and products (update, insert, delete stale) and log the load."""
    from opsloop.synth.org import Bank

    assert isinstance(bank, Bank)
    store = Store.open(settings.database_url)
    try:
        with store.session() as s:
            for model, table, key in (
                (OrgUnit, bank.org_units, "org_id"),
                (Product, bank.products, "product_id"),
                (RelationshipManager, bank.relationship_managers, "rm_id"),
            ):
                new = table.to_pylist()
                have = set(s.scalars(select(getattr(model, key))).all())
                old = [r for r in new if r[key] in have]
                fresh = [r for r in new if r[key] not in have]
                if old:
                    s.execute(update(model), old)
                if fresh:
                    s.execute(insert(model), fresh)
            keep_rm = set(bank.relationship_managers.column("rm_id").to_pylist())
            s.execute(delete(RelationshipManager).where(RelationshipManager.rm_id.not_in(keep_rm)))
            keep_org = set(bank.org_units.column("org_id").to_pylist())
            stale = sorted(
                set(s.scalars(select(OrgUnit.org_id)).all()) - keep_org, key=len, reverse=True
            )
            for org_id in stale:  # children (longer ids) before parents
                s.execute(delete(OrgUnit).where(OrgUnit.org_id == org_id))
            keep_p = set(bank.products.column("product_id").to_pylist())
            s.execute(delete(Product).where(Product.product_id.not_in(keep_p)))
            s.add(
                DatasetLoad(dataset=dataset, source="synth", params=params, row_counts=dict(rows))
            )
    finally:
        store.close()
