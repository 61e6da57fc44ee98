"""Metric alerts delivered to staff through the Reach center's outbox.

An alert's metric is a daily event analysis (count, uniques or sum of one event, no
``by``) run in its owner's scope; its rule is a threshold or a seasonal anomaly
(:mod:`.rules`). ``check_due(now)`` checks every enabled alert for the last complete
day in the bank's time zone; a check is recorded once per alert and day (re-running it
changes nothing), and a fired alert puts one e-mail (or other channel) message per
recipient into ``reach_outbox`` with a key unique to alert × day × recipient, so the
Reach worker delivers it exactly once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from opsloop.access import audit
from opsloop.access.clock import as_utc
from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.monitor.analyses.model import AnalysisDocument, EventAnalysis
from opsloop.monitor.dashboards.reports import BANK_ZONE, owner_principal, visible
from opsloop.monitor.dashboards.rules import Anomaly, Check, Rule, Threshold, evaluate
from opsloop.monitor.models import AlertCheckRow, AlertRow
from opsloop.reach.outbox import Message, enqueue
from opsloop.store import Store
from opsloop.warehouse import Warehouse

STAFF_CUSTOMER_ID = 0  # outbox rows to staff carry no customer
SCHEDULER = Principal(id="monitor-scheduler", kind="system")
_RULE: TypeAdapter[Threshold | Anomaly] = TypeAdapter(Rule)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    name: str
    metric: dict[str, Any]
    rule: dict[str, Any]
    recipients: Sequence[str]
    channel: str = "email"
    dataset: str | None = None


def validate_metric(doc: dict[str, Any]) -> EventAnalysis:
    """A daily, ungrouped event analysis (its start/end are set at each check)."""
    a = validate_analysis(doc).analysis
    if not isinstance(a, EventAnalysis):
        raise InvalidInputError("an alert's metric is an event analysis", where="metric.kind")
    if a.interval != "day" or a.by is not None:
        raise InvalidInputError("a daily series: interval 'day' and no 'by'", where="metric")
    return a


def validate_rule(rule: dict[str, Any]) -> Threshold | Anomaly:
    try:
        return _RULE.validate_python(rule)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in ("rule", *err["loc"][1:]))
        raise InvalidInputError(str(err["msg"]), where=loc) from None


def public(row: AlertRow) -> dict[str, Any]:
    return {
        "alert_id": row.alert_id,
        "name": row.name,
        "owner": row.owner,
        "org_path": row.org_path,
        "metric": row.metric,
        "rule": row.rule,
        "recipients": row.recipients,
        "channel": row.channel,
        "dataset": row.dataset,
        "enabled": row.enabled,
    }


def save_alert(
    *, store: Store, principal: Principal, spec: AlertSpec, now: dt.datetime
) -> dict[str, Any]:
    """Validate and save an alert in the caller's scope (audited)."""
    metric = validate_metric(spec.metric)
    rule = validate_rule(spec.rule)
    if not spec.recipients:
        raise InvalidInputError("name at least one staff recipient", where="recipients")
    row = AlertRow(
        alert_id=uuid.uuid4().hex[:16],
        name=spec.name,
        owner=principal.id,
        org_path=principal.org_path,
        rm_id=principal.rm_id,
        own_customers_only=principal.own_customers_only,
        metric=metric.model_dump(mode="json"),
        rule=rule.model_dump(mode="json"),
        recipients=list(spec.recipients),
        channel=spec.channel,
        dataset=spec.dataset,
        enabled=True,
        created_at=as_utc(now),
    )
    with store.session() as s:
        s.add(row)
        s.flush()
        out = public(row)
        audit.record(
            s,
            actor=principal,
            action="alert.save",
            target_type="alert",
            target_id=row.alert_id,
            after=out,
            now=now,
        )
    return out


def list_alerts(*, store: Store, principal: Principal) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(select(AlertRow).order_by(AlertRow.created_at, AlertRow.alert_id))
        return [public(r) for r in rows if visible(r, principal)]


def series(*, wh: Warehouse, row: AlertRow, start: dt.date, end: dt.date) -> dict[dt.date, float]:
    """The alert's metric per day in [start, end], in the owner's scope."""
    metric = validate_metric(row.metric).model_copy(update={"start": start, "end": end})
    doc = AnalysisDocument(analysis=metric)
    out = run_analysis(wh=wh, doc=doc, principal=owner_principal(row), dataset=row.dataset)
    return {dt.date.fromisoformat(r["period"]): float(r["value"] or 0.0) for r in out["rows"]}


def check_alert(
    *, store: Store, wh: Warehouse, alert_id: str, day: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """Evaluate one alert for ``day`` once; deliver to its recipients when it fires."""
    if not dt.date(1900, 12, 31) <= day <= dt.date(2999, 12, 31):
        raise InvalidInputError("day must be between 1900-12-31 and 2999-12-31", where="day")
    with store.session() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise NotFoundError(f"no alert {alert_id!r}", where="alert_id")
        done = s.scalars(
            select(AlertCheckRow).where(
                AlertCheckRow.alert_id == alert_id, AlertCheckRow.day == day.isoformat()
            )
        ).first()
        if done is not None:
            return _check_public(done)
        s.expunge(row)
    rule = validate_rule(row.rule)
    weeks = rule.weeks if isinstance(rule, Anomaly) else 0
    data = series(wh=wh, row=row, start=day - dt.timedelta(weeks=weeks), end=day)
    check = evaluate(rule, data, day)
    messages = _messages(row, check) if check.fired else []
    with store.session() as s:
        keys = enqueue(s, messages, now=now)
        rec = AlertCheckRow(
            alert_id=alert_id,
            day=day.isoformat(),
            value=check.value,
            baseline=check.baseline,
            score=_finite(check.score),
            fired=check.fired,
            message_keys=[m.key for m in messages],
            at=as_utc(now),
        )
        s.add(rec)
        s.flush()
        if check.fired:
            audit.record(
                s,
                actor=SCHEDULER,
                action="alert.fire",
                target_type="alert",
                target_id=alert_id,
                after={"day": day.isoformat(), "reason": check.reason, "queued": keys},
                now=now,
            )
        return _check_public(rec)


def check_due(
    *, store: Store, wh: Warehouse, now: dt.datetime, zone: ZoneInfo = BANK_ZONE
) -> list[dict[str, Any]]:
    """Check every enabled alert for the last complete local day."""
    day = now.astimezone(zone).date() - dt.timedelta(days=1)
    with store.session() as s:
        ids = list(s.scalars(select(AlertRow.alert_id).where(AlertRow.enabled.is_(True))))
    return [check_alert(store=store, wh=wh, alert_id=i, day=day, now=now) for i in ids]


def _messages(row: AlertRow, check: Check) -> list[Message]:
    subject = f"[opsloop alert] {row.name} on {check.day.isoformat()}"
    return [
        Message(
            key=f"monitor-alert:{row.alert_id}:{check.day.isoformat()}:{i}",
            channel=row.channel,
            customer_id=STAFF_CUSTOMER_ID,
            campaign=f"monitor-alert:{row.alert_id}",
            payload={"to": to, "subject": subject, "title": subject, "body": check.reason},
        )
        for i, to in enumerate(row.recipients)
    ]


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x or abs(x) == float("inf") else x


def _check_public(r: AlertCheckRow) -> dict[str, Any]:
    return {
        "alert_id": r.alert_id,
        "day": r.day,
        "value": r.value,
        "baseline": r.baseline,
        "score": r.score,
        "fired": r.fired,
        "message_keys": r.message_keys,
    }
