"""Loaders of real public data sets (Berka, UCI Bank Marketing, Hillstrom) into the warehouse.

Each loader is a pure ``build(path) -> {table: Arrow table}`` that parses and validates
every file first; :func:`load` then writes all tables in one warehouse transaction and
records the load, so a bad file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from opsloop.datasets import bank_marketing, berka, hillstrom
from opsloop.datasets.common import LoadResult, Tables, write
from opsloop.store import Store
from opsloop.warehouse import Warehouse

BUILDERS: dict[str, Callable[[Path], Tables]] = {
    berka.SOURCE: berka.build,
    bank_marketing.SOURCE: bank_marketing.build,
    hillstrom.SOURCE: hillstrom.build,
}
DEFAULT_DATASET = {
    berka.SOURCE: "berka",
    bank_marketing.SOURCE: "bank_marketing",
    hillstrom.SOURCE: "hillstrom",
}


def load(
    source: str,
    path: Path,
    *,
    warehouse: Warehouse,
    store: Store | None = None,
    dataset: str | None = None,
) -> LoadResult:
    """Load the ``source`` data set found at ``path`` into ``dataset`` (all tables or none)."""
    return write(
        BUILDERS[source],
        path,
        source=source,
        dataset=dataset or DEFAULT_DATASET[source],
        warehouse=warehouse,
        store=store,
    )


__all__ = ["BUILDERS", "DEFAULT_DATASET", "LoadResult", "load"]
