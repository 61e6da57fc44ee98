"""Monitoring center (运营监控中心): run analyses and read out experiments."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.clock import utcnow
from opsloop.access.principal import Principal
from opsloop.access.scope import require_bank_wide
from opsloop.api.deps import StoreDep, WarehouseDep, require
from opsloop.errors import NotFoundError
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.monitor.campaign import campaign_evaluation
from opsloop.monitor.dashboards import alerts, reports
from opsloop.monitor.dashboards.health import journey_health
from opsloop.monitor.experiments import Metric, experiment_results
from opsloop.monitor.uplift.models import Method
from opsloop.monitor.uplift.service import uplift_report

router = APIRouter(tags=["monitor"])
Analyst = Annotated[Principal, require("analysis:read")]
Editor = Annotated[Principal, require("dashboard:write")]
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


_COL = r"^[A-Za-z_][A-Za-z0-9_]*$"
ReportId = Annotated[str, Field(max_length=64, pattern=_ID)]


class UpliftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    treatment: str = Field(min_length=1, max_length=200)
    control: str = Field(min_length=1, max_length=200)
    outcome: str = Field(min_length=1, max_length=64, pattern=_COL)
    dataset: Dataset = None
    experiment_id: str | None = Field(default=None, max_length=200)
    features: list[Annotated[str, Field(max_length=64, pattern=_COL)]] | None = Field(
        default=None, max_length=100
    )
    methods: list[Method] = Field(default=["t_learner", "class_transformation"], min_length=1)
    test_share: float = Field(default=0.3, ge=0.05, le=0.9)
    k: float = Field(default=0.3, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**31)
    points: int = Field(default=50, ge=2, le=1000)


@router.post("/uplift/run")
def uplift(body: UpliftRequest, wh: WarehouseDep, principal: Analyst) -> dict[str, Any]:
    """Fit uplift models on an experiment and report Qini/AUUC on a held-out part.

    Bank-wide only, like the experiment read-out: the exposure rows carry no scope.
    """
    require_bank_wide(principal, what="an uplift model")
    out: dict[str, Any] = _finite(uplift_report(wh=wh, **body.model_dump()))
    return out


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    analysis: dict[str, Any] = Field(description="an analysis document (docs/analyses.md)")
    dataset: Dataset = None
    refresh_cron: str | None = Field(default=None, min_length=9, max_length=64)


@router.post("/reports", status_code=201)
def save_report(body: ReportCreate, store: StoreDep, principal: Editor) -> dict[str, Any]:
    """Save a report in the caller's scope (audited); compute it with .../refresh."""
    spec = reports.ReportSpec(
        body.name, {"analysis": body.analysis}, body.dataset, body.refresh_cron
    )
    return reports.save_report(store=store, principal=principal, spec=spec, now=utcnow())


@router.get("/reports")
def list_reports(store: StoreDep, principal: Analyst) -> list[dict[str, Any]]:
    """Reports the caller may read (their own, or owners within their scope)."""
    return reports.list_reports(store=store, principal=principal)


@router.get("/reports/{report_id}")
def get_report(report_id: ReportId, store: StoreDep, principal: Analyst) -> dict[str, Any]:
    """One report with its cached result and when it was computed."""
    return reports.get_report(store=store, principal=principal, report_id=report_id)


@router.post("/reports/{report_id}/refresh")
def refresh_report(
    report_id: ReportId, store: StoreDep, wh: WarehouseDep, principal: Editor
) -> dict[str, Any]:
    """Re-run the report in its owner's scope now and cache the result."""
    return reports.refresh_report(
        store=store, wh=wh, report_id=report_id, now=utcnow(), principal=principal
    )


@router.delete("/reports/{report_id}", status_code=204)
def delete_report(report_id: ReportId, store: StoreDep, principal: Editor) -> None:
    """Delete one's own report (audited)."""
    reports.delete_report(store=store, principal=principal, report_id=report_id, now=utcnow())


class AlertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    metric: dict[str, Any] = Field(description="a daily event analysis (interval day, no by)")
    rule: dict[str, Any] = Field(description="threshold {op, limit} or anomaly {weeks, z}")
    recipients: list[
        Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    ] = Field(min_length=1, max_length=50)
    channel: Literal["email", "webhook"] = "email"
    dataset: Dataset = None


@router.post("/alerts", status_code=201)
def save_alert(body: AlertCreate, store: StoreDep, principal: Editor) -> dict[str, Any]:
    """Save a metric alert in the caller's scope (audited)."""
    spec = alerts.AlertSpec(
        body.name, {"analysis": body.metric}, body.rule, body.recipients, body.channel, body.dataset
    )
    return alerts.save_alert(store=store, principal=principal, spec=spec, now=utcnow())


@router.get("/alerts")
def list_alerts(store: StoreDep, principal: Analyst) -> list[dict[str, Any]]:
    """Alerts the caller may read."""
    return alerts.list_alerts(store=store, principal=principal)


@router.post("/alerts/{alert_id}/check")
def check_alert(
    alert_id: ReportId,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Editor,
    day: Annotated[dt.date, Query(description="the day to check (YYYY-MM-DD)")],
) -> dict[str, Any]:
    """Check one alert for one day now (once per day; a fired alert is queued to Reach)."""
    listed = {a["alert_id"] for a in alerts.list_alerts(store=store, principal=principal)}
    if alert_id not in listed:
        raise NotFoundError(f"no alert {alert_id!r}", where="alert_id")
    out: dict[str, Any] = _finite(
        alerts.check_alert(store=store, wh=wh, alert_id=alert_id, day=day, now=utcnow())
    )
    return out


@router.get("/monitor/journey-health")
def health(
    store: StoreDep,
    principal: Analyst,
    grace_minutes: Annotated[int, Query(ge=0, le=7 * 24 * 60)] = 60,
    days: Annotated[int, Query(ge=3, le=90)] = 14,
) -> dict[str, Any]:
    """Stuck customers, failed sends and suppression spikes (bank-wide callers only)."""
    require_bank_wide(principal, what="journey health")
    out: dict[str, Any] = _finite(
        journey_health(store=store, now=utcnow(), grace_minutes=grace_minutes, days=days)
    )
    return out


_TABLE = r"^[a-z_][a-z0-9_]*$"


class CampaignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(max_length=64, pattern=_TABLE, description="exposure table, 1 row/customer")
    dataset: Dataset = None
    campaign: str = Field(min_length=1, max_length=128, description="the Reach campaign name")
    activity_id: str | None = Field(default=None, max_length=64)
    treated: str = Field(min_length=1, max_length=200)
    holdout: str = Field(min_length=1, max_length=200)
    arm_column: str = Field(default="arm", max_length=64, pattern=_COL)
    conversion: str = Field(default="converted", max_length=64, pattern=_COL)
    aum: str | None = Field(default="aum_change", max_length=64, pattern=_COL)
    revenue: str = Field(default="revenue", max_length=64, pattern=_COL)
    basis: Literal["redeemed", "issued"] = "redeemed"
    fixed_cost: float = Field(default=0.0, ge=0, le=1e15)
    alpha: float = Field(default=0.05, gt=0, lt=1)


@router.post("/campaigns/evaluation")
def campaign(
    body: CampaignRequest, wh: WarehouseDep, store: StoreDep, principal: Analyst
) -> dict[str, Any]:
    """Incremental conversions/AUM/revenue vs the holdout, costs, ROI (bank-wide only)."""
    require_bank_wide(principal, what="a campaign evaluation")
    out: dict[str, Any] = _finite(campaign_evaluation(wh=wh, store=store, **body.model_dump()))
    return out
