"""Monitoring center (运营监控中心): run analyses and read out experiments."""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.principal import Principal
from opsloop.access.scope import require_bank_wide
from opsloop.api.deps import WarehouseDep, require
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.monitor.experiments import Metric, experiment_results

router = APIRouter(tags=["monitor"])
Analyst = Annotated[Principal, require("analysis:read")]
_ID = r"^[A-Za-z0-9_-]+$"
Dataset = Annotated[str | None, Field(default=None, max_length=64, pattern=_ID)]


class AnalysisRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    analysis: dict[str, Any] = Field(description="an analysis document (see docs/analyses.md)")
    dataset: Dataset = None


@router.post("/analyses/run")
def run(body: AnalysisRequest, wh: WarehouseDep, principal: Analyst) -> dict[str, Any]:
    """Run one analysis in the caller's data scope (辖内); chart-ready JSON."""
    doc = validate_analysis({"analysis": body.analysis})
    return run_analysis(wh=wh, doc=doc, principal=principal, dataset=body.dataset)


class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Literal["mean", "proportion"] = "mean"
    pre_column: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExperimentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")
    dataset: Dataset = None
    control: str = Field(min_length=1, max_length=200)
    metrics: list[MetricSpec] = Field(min_length=1, max_length=50)
    arm_column: str = Field(default="arm", max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    planned_split: dict[str, float] | None = None
    alpha: float = Field(default=0.05, gt=0, lt=1)
    sequential_tuning: float | None = Field(default=None, gt=0)


@router.post("/experiments/results")
def experiment(body: ExperimentRequest, wh: WarehouseDep, principal: Analyst) -> dict[str, Any]:
    """Read out an experiment from its exposure table (bank-wide callers only).

    An exposure table has one row per unit and no org path, so it cannot be limited to a
    branch scope; aggregated results over the whole experiment are for head office.
    """
    require_bank_wide(principal, what="an experiment read-out")
    result = experiment_results(
        wh=wh,
        table=body.table,
        dataset=body.dataset,
        control=body.control,
        metrics=[Metric(m.column, m.kind, m.pre_column) for m in body.metrics],
        arm_column=body.arm_column,
        planned_split=body.planned_split,
        alpha=body.alpha,
        sequential_tuning=body.sequential_tuning,
    )
    out: dict[str, Any] = _finite(dataclasses.asdict(result))
    return out


def _finite(value: Any) -> Any:
    """NaN and ±inf are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
