"""`opsloop load ...`: load the real public data sets (owned by the datasets work)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Load a real public data set into the canonical model.", no_args_is_help=True
)
