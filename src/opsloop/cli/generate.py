"""`opsloop generate`: build the synthetic bank (owned by the synth work)."""

from __future__ import annotations

import typer


def command(
    customers: int = typer.Option(100_000, help="number of customers"),
    months: int = typer.Option(12, help="months of history"),
    seed: int = typer.Option(42, help="random seed: same seed, same bank"),
) -> None:
    """Generate a synthetic bank into the warehouse."""
    raise typer.Exit(code=2)
