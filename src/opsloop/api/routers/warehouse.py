"""Read-only access to the warehouse for analysts and the CLI (bank-wide permission)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from opsloop.api.deps import WarehouseDep, require
from opsloop.api.encoding import jsonable

router = APIRouter(prefix="/warehouse", tags=["warehouse"])


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, description="one read-only SQL query")
    dataset: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=10_000, ge=1, le=1_000_000)


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    count: int


@router.post("/query", dependencies=[require("warehouse:query")])
def run_query(body: QueryRequest, wh: WarehouseDep) -> QueryResult:
    """Run one read-only SQL statement (writes, file reads and pragmas are refused)."""
    result = wh.sql(body.sql, dataset=body.dataset, limit=body.limit)
    rows = [{k: jsonable(v) for k, v in r.items()} for r in result.to_pylist()]
    return QueryResult(columns=result.column_names, rows=rows, count=len(rows))


class Datasets(BaseModel):
    datasets: list[str]
    tables: dict[str, list[str]]


@router.get("/datasets", dependencies=[require("warehouse:query")])
def list_datasets(wh: WarehouseDep) -> Datasets:
    names = wh.datasets()
    return Datasets(datasets=names, tables={n: wh.tables(n) for n in names})
