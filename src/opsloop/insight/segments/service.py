"""Segment services over the warehouse: validate a document, preview its audience.

Keyword-only functions that API and CLI call; they build Ibis expressions with the
compiler and run them only through :class:`opsloop.warehouse.Warehouse`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ibis
from pydantic import BaseModel, ConfigDict, ValidationError

from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.insight.segments.compiler import (
    Resolver,
    SegmentCompiler,
    no_segments,
    scope_customers,
)
from opsloop.insight.segments.errors import Issue, SegmentValidationError, issues_from
from opsloop.insight.segments.model import And, Or, SegmentDefinition
from opsloop.warehouse import Warehouse

SAMPLE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "org_id",
    "rm_id",
    "name_masked",
    "phone_masked",
    "gender",
    "city",
    "kyc_risk_level",
    "opened_on",
)
"""What a preview shows of each sampled customer: masked PII only, never clear values."""


class BranchCount(BaseModel):
    model_config = ConfigDict(frozen=True)
    branch: str
    count: int


class ConditionCount(BaseModel):
    """Customers in scope meeting one top-level condition on its own."""

    model_config = ConfigDict(frozen=True)
    where: str
    kind: str
    count: int


class Preview(BaseModel):
    """What an operator sees before saving a segment: size, a sample, where they are."""

    model_config = ConfigDict(frozen=True)
    count: int
    as_of: dt.date | dt.datetime
    scope: str | None
    sample: list[dict[str, Any]]
    by_branch: list[BranchCount]
    by_condition: list[ConditionCount]


def validate_segment(doc: Any) -> SegmentDefinition:
    """Parse a JSON document into a definition, or raise with every problem's JSON path.

    Raises:
        SegmentValidationError: ``issues`` lists each problem; ``where`` is the first.
    """
    if not isinstance(doc, Mapping):
        raise SegmentValidationError([Issue("$", "a segment document is a JSON object")])
    try:
        return SegmentDefinition.model_validate(doc)
    except ValidationError as exc:
        raise SegmentValidationError(issues_from(exc, doc)) from None


def dir_resolver(directory: Path) -> Resolver:
    """Saved segments as ``<id>.json`` files in one directory (what the CLI uses)."""

    def resolve(segment_id: str) -> SegmentDefinition:
        path = directory / f"{segment_id}.json"
        if not path.is_file():
            raise NotFoundError(f"no segment file {path}")
        import orjson

        try:
            return validate_segment(orjson.loads(path.read_bytes()))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"not JSON: {exc}", where=str(path)) from exc

    return resolve


class WarehouseTables(Mapping[str, ibis.Table]):
    """The canonical tables of one dataset, looked up only when the compiler asks."""

    _NAMES = ("customers", "transactions", "events")

    def __init__(self, wh: Warehouse, dataset: str | None) -> None:
        self._wh, self._dataset = wh, dataset

    def __getitem__(self, name: str) -> ibis.Table:
        return self._wh.table(name, dataset=self._dataset)

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


def data_as_of(*, wh: Warehouse, dataset: str | None = None) -> dt.date:
    """The day of the latest transaction: the natural ``as_of`` for a loaded dataset.

    Today when the dataset has no transactions (customers loaded on their own).
    """
    try:
        t = wh.table("transactions", dataset=dataset)
    except NotFoundError:
        return dt.date.today()
    latest = wh.execute(t.aggregate(latest=t.ts.max())).column("latest")[0].as_py()
    return latest.date() if latest is not None else dt.date.today()


def preview(
    *,
    wh: Warehouse,
    defn: SegmentDefinition,
    as_of: dt.date | dt.datetime,
    scope_prefix: str | None = None,
    dataset: str | None = None,
    sample: int = 20,
    resolve: Resolver = no_segments,
    principal: Principal | None = None,
) -> Preview:
    """Count, sample, and break down a segment's audience (three small queries).

    ``principal`` (when given) limits everything to the caller's data scope in the query.
    """
    if not 0 <= sample <= 1000:
        raise InvalidInputError("sample must be between 0 and 1000", where="sample")
    tables = WarehouseTables(wh, dataset)
    customers = scope_customers(tables["customers"], scope_prefix, principal)
    compiler = SegmentCompiler(
        customers=customers, tables=tables, as_of=as_of, resolve=resolve, root_id=defn.id
    )
    members = customers.filter(compiler.compile(defn.root, "root"))
    branch = members.org_path.split("/")[2].nullif("").fill_null("HO").name("branch")
    counts = members.group_by(branch).aggregate(count=members.count()).order_by("branch")
    by_branch = [BranchCount(**row) for row in wh.execute(counts).to_pylist()]
    rows = members.select(*SAMPLE_COLUMNS).order_by("customer_id").limit(sample)
    return Preview(
        count=sum(b.count for b in by_branch),
        as_of=as_of,
        scope=scope_prefix,
        sample=wh.execute(rows).to_pylist() if sample else [],
        by_branch=by_branch,
        by_condition=_by_condition(wh, customers, compiler, defn),
    )


def _by_condition(
    wh: Warehouse, customers: ibis.Table, compiler: SegmentCompiler, defn: SegmentDefinition
) -> list[ConditionCount]:
    """For an and/or root, how many in-scope customers each child selects on its own."""
    root = defn.root
    if not isinstance(root, And | Or):
        return []
    paths = [f"root.children[{i}]" for i in range(len(root.children))]
    sums = {
        f"c{i}": compiler.compile(child, path).cast("int64").sum()
        for i, (child, path) in enumerate(zip(root.children, paths, strict=True))
    }
    row = wh.execute(customers.aggregate(**sums)).to_pylist()[0]
    return [
        ConditionCount(where=path, kind=child.kind, count=int(row[f"c{i}"] or 0))
        for i, (child, path) in enumerate(zip(root.children, paths, strict=True))
    ]
