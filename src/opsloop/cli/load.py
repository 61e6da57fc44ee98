"""`opsloop load ...`: load the real public data sets into the canonical model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from opsloop.cli.output import Format, console, print_arrow, print_json

app = typer.Typer(
    help="Load a real public data set into the canonical model.", no_args_is_help=True
)

PathArg = Annotated[Path, typer.Argument(help="the data set's folder or file")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table | json")]


def _run(source: str, path: Path, dataset: str | None, fmt: Format) -> None:
    from opsloop.datasets import load
    from opsloop.settings import get_settings
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    settings.ensure_home()
    store = Store.open(settings.database_url)
    warehouse = Warehouse.open(settings.warehouse)
    try:
        result = load(source, path, warehouse=warehouse, store=store, dataset=dataset)
    finally:
        warehouse.close()
        store.close()
    if fmt is Format.json:
        print_json(result.as_json())
        return
    counts = result.row_counts
    print_arrow(pa.table({"table": list(counts), "rows": list(counts.values())}), fmt)
    console.print(f"loaded {source} into dataset {result.dataset} in {result.seconds:.1f} s")


@app.command("berka")
def berka(
    path: PathArg,
    dataset: Annotated[str, typer.Option(help="warehouse dataset (schema)")] = "berka",
    fmt: FormatOpt = Format.table,
) -> None:
    """Load the Berka (PKDD'99) Czech bank files from PATH."""
    _run("berka", path, dataset, fmt)


@app.command("bank-marketing")
def bank_marketing(
    path: PathArg,
    dataset: Annotated[str, typer.Option(help="warehouse dataset (schema)")] = "bank_marketing",
    fmt: FormatOpt = Format.table,
) -> None:
    """Load UCI Bank Marketing (bank-full.csv) from PATH."""
    _run("bank-marketing", path, dataset, fmt)


@app.command("hillstrom")
def hillstrom(
    path: PathArg,
    dataset: Annotated[str, typer.Option(help="warehouse dataset (schema)")] = "hillstrom",
    fmt: FormatOpt = Format.table,
) -> None:
    """Load the Hillstrom e-mail experiment (hillstrom.csv) from PATH."""
    _run("hillstrom", path, dataset, fmt)
