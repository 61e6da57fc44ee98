"""`opsloop generate`: build the synthetic bank into the warehouse."""

from __future__ import annotations

import time

import pyarrow as pa
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from opsloop.cli.output import Format, console, print_arrow, print_json
from opsloop.settings import get_settings


def run_generate(
    *,
    customers: int,
    months: int,
    seed: int,
    start: str = "2025-01",
    dataset: str | None = None,
    workers: int = 2,
    chunk_size: int = 100_000,
    fmt: Format = Format.table,
) -> None:
    """Generate with a progress bar by chunk, then print rows per table."""
    from opsloop.synth import generate_bank

    settings = get_settings()
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]generate"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} chunks"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("chunks", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = generate_bank(
            settings=settings, customers=customers, months=months, seed=seed, start=start,
            dataset=dataset, workers=workers, chunk_size=chunk_size, progress=tick,
        )  # fmt: skip
    seconds = round(time.perf_counter() - started, 2)
    if fmt is Format.json:
        print_json(
            {
                "rows": result.rows,
                "seconds": seconds,
                "warehouse": settings.warehouse,
                "ground_truth": str(settings.ground_truth_path),
            }
        )
        return
    names = sorted(result.rows)
    print_arrow(pa.table({"table": names, "rows": [result.rows[n] for n in names]}), fmt)
    console.print(f"done in {seconds} s → {settings.warehouse}")


def command(
    customers: int = typer.Option(100_000, help="number of customers"),
    months: int = typer.Option(12, help="months of history"),
    seed: int = typer.Option(42, help="random seed: same seed, same bank"),
    start: str = typer.Option("2025-01", help="first month of history (YYYY-MM)"),
    dataset: str | None = typer.Option(None, help="warehouse dataset (default: main)"),
    workers: int = typer.Option(2, help="processes generating chunks"),
    chunk_size: int = typer.Option(100_000, help="customers per chunk (part of the seed)"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table | csv | json"),
) -> None:
    """Generate a synthetic bank into the warehouse (truth goes to ground_truth.duckdb)."""
    run_generate(
        customers=customers, months=months, seed=seed, start=start, dataset=dataset,
        workers=workers, chunk_size=chunk_size, fmt=fmt,
    )  # fmt: skip
