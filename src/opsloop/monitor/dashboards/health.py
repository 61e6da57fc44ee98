"""Journey health (旅程健康度) from the Strategy and Reach tables, read-only.

- stuck customers: waiting in a journey past their timer (``due_at``) by more than a
  grace period — the timer runner is behind or down;
- failed sends: outbox messages dead (given up) or waiting to retry after a failure,
  by campaign;
- suppression spikes: suppressed contacts and steps per day, the last complete day's
  robust z against the previous ``days`` days (see :mod:`.rules`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from opsloop.access.clock import as_utc
from opsloop.monitor.dashboards.rules import robust_z
from opsloop.reach.models import ContactRow
from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.store import Store
from opsloop.strategy.models import CustomerState, StepRow


def journey_health(
    *, store: Store, now: dt.datetime, grace_minutes: int = 60, days: int = 14, z: float = 3.5
) -> dict[str, Any]:
    """Stuck customers by journey, failed sends by campaign, suppression spikes."""
    now = as_utc(now)
    late = now - dt.timedelta(minutes=grace_minutes)
    since = now - dt.timedelta(days=days + 1)
    with store.session() as s:
        stuck = s.execute(
            select(CustomerState.journey_id, func.count(), func.min(CustomerState.due_at))
            .where(CustomerState.status == "waiting", CustomerState.due_at < late)
            .group_by(CustomerState.journey_id)
            .order_by(CustomerState.journey_id)
        ).all()
        failed = s.execute(
            select(ReachOutbox.campaign, ReachOutbox.status, func.count())
            .where(ReachOutbox.status.in_(("dead", "retry")))
            .group_by(ReachOutbox.campaign, ReachOutbox.status)
        ).all()
        contacts = s.execute(
            select(func.date(ContactRow.at), func.count())
            .where(ContactRow.kind == "suppressed", ContactRow.at >= since)
            .group_by(func.date(ContactRow.at))
        ).all()
        steps = s.execute(
            select(func.date(StepRow.at), func.count())
            .where(StepRow.outcome == "suppressed", StepRow.at >= since)
            .group_by(func.date(StepRow.at))
        ).all()
    by_campaign: dict[str, dict[str, int]] = {}
    for campaign, status, n in failed:
        c = by_campaign.setdefault(campaign, {"dead": 0, "retrying": 0})
        c["dead" if status == "dead" else "retrying"] += int(n)
    day = now.date() - dt.timedelta(days=1)
    return {
        "as_of": now.isoformat(),
        "stuck": [
            {
                "journey_id": j,
                "customers": int(n),
                "oldest_due_at": as_utc(d).isoformat() if d else None,
            }
            for j, n, d in stuck
        ],
        "failed_sends": [{"campaign": c, **v} for c, v in sorted(by_campaign.items())],
        "suppressions": {
            "contacts": spike(_daily(contacts), day, days, z),
            "journey_steps": spike(_daily(steps), day, days, z),
        },
    }


def spike(daily: dict[dt.date, int], day: dt.date, days: int, z: float) -> dict[str, Any]:
    """``day``'s count against the previous ``days`` days (absent days count 0)."""
    value = float(daily.get(day, 0))
    base = [float(daily.get(day - dt.timedelta(days=k), 0)) for k in range(1, days + 1)]
    med, score = robust_z(value, base)
    return {
        "day": day.isoformat(),
        "count": int(value),
        "median": med,
        "robust_z": score if abs(score) != float("inf") else None,
        "spike": score > z,
    }


def _daily(rows: Iterable[Any]) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for d, n in rows:
        key = d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])
        out[key] = out.get(key, 0) + int(n)
    return out
