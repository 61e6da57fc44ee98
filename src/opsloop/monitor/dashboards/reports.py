"""Saved reports (看板报表): an analysis document with owner, scope and refresh schedule.

A report is computed in its owner's data scope (辖内), recorded with the report, and its
result cached with a timestamp; a reader must be the owner or hold a scope that covers
the owner's (so nobody reads figures about customers outside their own scope).
``refresh_due(now)`` re-runs every report whose cron schedule fired since its result.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from opsloop.access import audit
from opsloop.access.clock import as_utc
from opsloop.access.principal import Principal
from opsloop.errors import ForbiddenError, InvalidInputError, NotFoundError
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.monitor.models import ReportRow
from opsloop.store import Store
from opsloop.strategy.cron import last_fire, parse
from opsloop.warehouse import Warehouse

BANK_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """What a caller saves: a name, an analysis document, where and how often to run it."""

    name: str
    document: dict[str, Any]
    dataset: str | None = None
    refresh_cron: str | None = None


def owner_principal(row: ReportRow | Any) -> Principal:
    """The saved scope of a report's (or alert's) owner, to run it as they would."""
    return Principal(
        id=row.owner,
        kind="report",
        org_path=row.org_path,
        permissions=frozenset({"analysis:read"}),
        rm_id=row.rm_id,
        own_customers_only=row.own_customers_only,
    )


def visible(row: ReportRow | Any, principal: Principal) -> bool:
    """Owner, or a scope at least as wide as the owner's."""
    if row.owner == principal.id:
        return True
    return not principal.own_customers_only and str(row.org_path).startswith(principal.org_path)


def public(row: ReportRow) -> dict[str, Any]:
    return {
        "report_id": row.report_id,
        "name": row.name,
        "owner": row.owner,
        "org_path": row.org_path,
        "document": row.document,
        "dataset": row.dataset,
        "refresh_cron": row.refresh_cron,
        "result": row.result,
        "result_at": as_utc(row.result_at).isoformat() if row.result_at else None,
        "last_error": row.last_error,
    }


def save_report(
    *, store: Store, principal: Principal, spec: ReportSpec, now: dt.datetime
) -> dict[str, Any]:
    """Validate and save a report in the caller's scope (audited); not yet computed."""
    doc = validate_analysis(spec.document)
    if spec.refresh_cron is not None:
        try:
            parse(spec.refresh_cron)
        except (InvalidInputError, ValueError) as exc:
            raise InvalidInputError(str(exc), where="refresh_cron") from None
    row = ReportRow(
        report_id=uuid.uuid4().hex[:16],
        name=spec.name,
        owner=principal.id,
        org_path=principal.org_path,
        rm_id=principal.rm_id,
        own_customers_only=principal.own_customers_only,
        document=doc.model_dump(mode="json"),
        dataset=spec.dataset,
        refresh_cron=spec.refresh_cron,
        created_at=as_utc(now),
    )
    with store.session() as s:
        s.add(row)
        s.flush()
        out = public(row)
        audit.record(
            s,
            actor=principal,
            action="report.save",
            target_type="report",
            target_id=row.report_id,
            after=out,
            now=now,
        )
    return out


def get_report(*, store: Store, principal: Principal, report_id: str) -> dict[str, Any]:
    with store.session() as s:
        row = s.get(ReportRow, report_id)
        if row is None or not visible(row, principal):
            raise NotFoundError(f"no report {report_id!r}", where="report_id")
        return public(row)


def list_reports(*, store: Store, principal: Principal) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(ReportRow).order_by(ReportRow.created_at, ReportRow.report_id))
        return [
            {k: v for k, v in public(r).items() if k != "result"}
            for r in rows
            if visible(r, principal)
        ]


def delete_report(*, store: Store, principal: Principal, report_id: str, now: dt.datetime) -> None:
    with store.session() as s:
        row = s.get(ReportRow, report_id)
        if row is None or not visible(row, principal):
            raise NotFoundError(f"no report {report_id!r}", where="report_id")
        if row.owner != principal.id and not principal.can("*"):
            raise ForbiddenError("only the owner deletes a report", where="report_id")
        before = public(row)
        s.delete(row)
        audit.record(
            s,
            actor=principal,
            action="report.delete",
            target_type="report",
            target_id=report_id,
            before=before,
            now=now,
        )


def refresh_report(
    *,
    store: Store,
    wh: Warehouse,
    report_id: str,
    now: dt.datetime,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Run the report in its owner's scope and cache the result with ``now``.

    An analysis error is kept on the report (``last_error``), the previous result stays.
    """
    with store.session() as s:
        row = s.get(ReportRow, report_id)
        if row is None or (principal is not None and not visible(row, principal)):
            raise NotFoundError(f"no report {report_id!r}", where="report_id")
        doc, dataset, owner = row.document, row.dataset, owner_principal(row)
    try:
        result = run_analysis(wh=wh, doc=validate_analysis(doc), principal=owner, dataset=dataset)
        error = None
    except (InvalidInputError, NotFoundError) as exc:
        result, error = None, str(exc)[:500]
    with store.session() as s:
        row = s.get(ReportRow, report_id)
        if row is None:
            raise NotFoundError(f"no report {report_id!r}", where="report_id")
        if result is not None:
            row.result, row.result_at = result, as_utc(now)
        row.last_error = error
        s.flush()
        return public(row)


def refresh_due(
    *, store: Store, wh: Warehouse, now: dt.datetime, zone: ZoneInfo = BANK_ZONE
) -> list[str]:
    """Refresh every scheduled report never computed, or whose schedule fired (within the
    last 31 days) after its cached result; returns the refreshed ids."""
    with store.session() as s:
        rows = s.execute(
            select(ReportRow.report_id, ReportRow.refresh_cron, ReportRow.result_at).where(
                ReportRow.refresh_cron.is_not(None)
            )
        ).all()
    due = []
    for report_id, cron, result_at in rows:
        if result_at is None:  # never computed: due at once
            due.append(report_id)
            continue
        fired = last_fire(str(cron), now, zone, lookback_days=31)
        if fired is not None and as_utc(result_at) < fired:
            due.append(report_id)
    for report_id in due:
        refresh_report(store=store, wh=wh, report_id=report_id, now=now)
    return due
