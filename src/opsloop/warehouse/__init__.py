"""Analytical store: the canonical tables in DuckDB (default) or PostgreSQL, via Ibis."""

from opsloop.warehouse.engine import Warehouse, WarehouseBusyError, dataset_name
from opsloop.warehouse.schema import CANONICAL_TABLES, TABLES_BY_NAME, Table

__all__ = [
    "CANONICAL_TABLES",
    "TABLES_BY_NAME",
    "Table",
    "Warehouse",
    "WarehouseBusyError",
    "dataset_name",
]
