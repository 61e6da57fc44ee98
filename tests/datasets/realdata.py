"""Where the real data sets are, and a warehouse + store to load them into, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from opsloop.store import Store
from opsloop.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO.parent / "shared" / "datasets").resolve()


def shared_datasets() -> Path:
    """``<repo>/../shared/datasets``, or skip the test saying why."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared/datasets not found: no real data sets at {SHARED}")
    return SHARED


@dataclass
class Target:
    warehouse: Warehouse
    store: Store

    def counts(self, dataset: str) -> dict[str, int]:
        return {
            t: int(
                self.warehouse.sql(f"select count(*) as n from {t}", dataset=dataset)["n"][
                    0
                ].as_py()
            )
            for t in self.warehouse.tables(dataset)
        }

    def checksums(self, dataset: str) -> dict[str, str]:
        return {
            t: self.warehouse.checksum(t, dataset=dataset) for t in self.warehouse.tables(dataset)
        }

    def close(self) -> None:
        self.warehouse.close()
        self.store.close()


def open_target(folder: Path) -> Target:
    return Target(
        Warehouse.open(str(folder / "warehouse.duckdb")),
        Store.open(f"sqlite:///{folder / 'opsloop.db'}"),
    )
