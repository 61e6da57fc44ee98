"""`opsloop generate`: build the synthetic bank (owned by the synth work)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from opsloop.cli.output import console, print_json
from opsloop.settings import get_settings


def command(
    customers: int = typer.Option(100_000, help="number of customers"),
    months: int = typer.Option(12, help="months of history"),
    seed: int = typer.Option(42, help="random seed: same seed, same bank"),
    start: str = typer.Option("2025-01", help="first month of history (YYYY-MM)"),
    dataset: str | None = typer.Option(None, help="warehouse dataset (default: main)"),
    workers: int = typer.Option(2, help="processes generating chunks"),
    chunk_size: int = typer.Option(100_000, help="customers per chunk (part of the seed)"),
) -> None:
    """Generate a synthetic bank into the warehouse (truth goes to ground_truth.duckdb)."""
    from opsloop.synth import generate_bank

    settings = get_settings()
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
    print_json({"rows": result.rows, "ground_truth": str(settings.ground_truth_path)})
