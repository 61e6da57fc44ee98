"""What every loader shares: canonical defaults, the org tree, and the one atomic write.

A loader is a pure function ``folder → {table name: Arrow table}``; :func:`write` is the
only step with side effects (one warehouse transaction, then a ``DatasetLoad`` record),
so a bad file stops the load before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from opsloop.store import Store
from opsloop.store.models import DatasetLoad
from opsloop.warehouse import CANONICAL_TABLES, TABLES_BY_NAME, Warehouse, dataset_name

Tables = dict[str, pa.Table]

HEAD_OFFICE = "HO"


@dataclass(frozen=True)
class OrgUnit:
    """One node of the org tree (总行 → 分行 → 支行)."""

    org_id: str
    parent_id: str | None
    level: str
    name: str
    name_en: str | None
    city: str | None
    path: str


def head_office() -> OrgUnit:
    return OrgUnit(HEAD_OFFICE, None, "head_office", "总行", "Head office", None, "/HO/")


def child(parent: OrgUnit, org_id: str, name: str, name_en: str, city: str | None) -> OrgUnit:
    level = "branch" if parent.level == "head_office" else "sub_branch"
    return OrgUnit(org_id, parent.org_id, level, name, name_en, city, f"{parent.path}{org_id}/")


def single_branch_tree(label: str) -> list[OrgUnit]:
    """HO → one branch → one sub-branch, for sources without any geography.

    The tree exists so data-scope (辖内) filters work the same on every dataset.
    """
    ho = head_office()
    branch = child(ho, "B01", f"{label}分行", f"{label} branch", None)
    sub = child(branch, "B01S01", f"{label}支行", f"{label} sub-branch", None)
    return [ho, branch, sub]


def org_table(units: Sequence[OrgUnit]) -> pa.Table:
    names = TABLES_BY_NAME["org_units"].column_names
    return pa.Table.from_pylist(
        [{n: getattr(u, n) for n in names} for u in units],
        schema=TABLES_BY_NAME["org_units"].schema,
    )


def empty(name: str) -> pa.Table:
    """A canonical table with no rows (the source has nothing for it)."""
    return TABLES_BY_NAME[name].schema.empty_table()


def with_all_tables(tables: Tables) -> Tables:
    """Add every canonical table the loader did not fill, empty, so later code can rely on all."""
    out = {t.name: tables[t.name] if t.name in tables else empty(t.name) for t in CANONICAL_TABLES}
    out.update({k: v for k, v in tables.items() if k not in out})
    return out


def constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


def customers(
    n: int,
    *,
    customer_id: pa.Array,
    org: OrgUnit | None,
    opened_on: pa.Array,
    source: str,
    known: Mapping[str, pa.Array] | None = None,
    consents: Sequence[str] = (),
    extras: Mapping[str, pa.Array] | None = None,
) -> pa.Table:
    """The canonical ``customers`` columns: what the source knows, honest defaults elsewhere.

    Unknown attributes are null; consent flags are false unless ``consents`` names them
    (opsloop never invents consent); nobody is on do-not-disturb; all are active. ``org``
    puts everyone in one unit; otherwise ``known`` must give ``org_id`` and ``org_path``.
    """
    schema = TABLES_BY_NAME["customers"].schema
    given: dict[str, pa.Array] = dict(known or {})
    given["customer_id"] = customer_id
    given["opened_on"] = opened_on
    given["source"] = constant(source, n, pa.string())
    if org is not None:
        given["org_id"] = constant(org.org_id, n, pa.string())
        given["org_path"] = constant(org.path, n, pa.string())
    given.setdefault("is_active", constant(True, n, pa.bool_()))
    given.setdefault("dnd", constant(False, n, pa.bool_()))
    for channel in ("sms", "push", "email", "wechat", "call"):
        given.setdefault(f"consent_{channel}", constant(channel in consents, n, pa.bool_()))
    arrays = [given[f.name] if f.name in given else pa.nulls(n, f.type) for f in schema]
    table = pa.Table.from_arrays(arrays, names=schema.names)
    for name, values in (extras or {}).items():
        table = table.append_column(name, values)
    return table


def month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later, clipped to that month's last day."""
    index = d.year * 12 + d.month - 1 + months
    first = date(index // 12, index % 12 + 1, 1)
    return first.replace(day=min(d.day, month_end(first).day))


@dataclass
class LoadResult:
    """What one load wrote: for the CLI, the store record and tests."""

    dataset: str
    source: str
    path: str
    row_counts: dict[str, int]
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "path": self.path,
            "row_counts": self.row_counts,
            "seconds": round(self.seconds, 3),
        }


def write(
    build: Callable[[Path], Tables],
    path: Path,
    *,
    source: str,
    dataset: str,
    warehouse: Warehouse,
    store: Store | None,
) -> LoadResult:
    """Parse and validate everything, then replace the dataset's tables in one transaction.

    Nothing reaches the warehouse unless every file parsed; the load is then recorded as a
    ``DatasetLoad`` row in the operational store (when one is given).
    """
    started = time.perf_counter()
    ds = dataset_name(dataset)
    tables = with_all_tables(build(path))
    warehouse.replace_tables(tables, dataset=ds)
    counts = {name: t.num_rows for name, t in tables.items()}
    result = LoadResult(ds, source, str(path), counts, time.perf_counter() - started)
    result.params = {"path": str(path.resolve())}
    if store is not None:
        with store.session() as session:
            session.add(
                DatasetLoad(
                    dataset=ds, source=source, params=result.params, row_counts=dict(counts)
                )
            )
    return result
