"""The journey catalogue: which journeys exist, their versions, and when each last changed.

Read-only views for the console's journey list and version picker. "Updated" comes from
the audit log (every save and transition writes one entry, in the same transaction), so a
draft edited in place shows its edit time, not the time its version was created.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsloop.access.models import AuditEntry
from opsloop.errors import NotFoundError
from opsloop.strategy.models import JourneyRow, JourneyVersionRow

STATUSES = (
    "draft",
    "submitted",
    "approved",
    "running",
    "paused",
    "finished",
    "archived",
    "superseded",
)
Status = Literal[
    "draft", "submitted", "approved", "running", "paused", "finished", "archived", "superseded"
]


@dataclass(frozen=True)
class JourneySummary:
    journey_id: str
    name: str
    status: str  # of the latest version (what an edit or a transition acts on)
    version: int
    running_version: int | None
    owner: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class JourneyPage:
    total: int
    items: list[JourneySummary]


@dataclass(frozen=True)
class VersionSummary:
    version: int
    status: str
    created_by: str
    submitted_by: str | None
    approved_by: str | None
    created_at: dt.datetime
    nodes: int


def _last_changes(s: Session, targets: list[str]) -> dict[str, dt.datetime]:
    if not targets:
        return {}
    rows = s.execute(
        select(AuditEntry.target_id, func.max(AuditEntry.at))
        .where(AuditEntry.target_type == "journey", AuditEntry.target_id.in_(targets))
        .group_by(AuditEntry.target_id)
    ).all()
    return {str(t): at for t, at in rows}


def list_journeys(
    *, session: Session, status: Status | None = None, limit: int = 50, offset: int = 0
) -> JourneyPage:
    """Journeys newest version first, ``status`` filtering on the latest version's status."""
    j, v = JourneyRow, JourneyVersionRow
    base = select(j, v).join(v, (v.journey_id == j.journey_id) & (v.version == j.latest_version))
    if status is not None:
        base = base.where(v.status == status)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(v.created_at.desc(), j.journey_id).limit(limit).offset(offset)
    ).all()
    targets = [f"{jr.journey_id}@v{n}" for jr, _ in rows for n in range(1, jr.latest_version + 1)]
    changed = _last_changes(session, targets)
    items = []
    for jr, vr in rows:
        mine = (f"{jr.journey_id}@v{n}" for n in range(1, jr.latest_version + 1))
        times = [changed[t] for t in mine if t in changed]
        items.append(
            JourneySummary(
                journey_id=jr.journey_id,
                name=jr.name,
                status=vr.status,
                version=vr.version,
                running_version=jr.running_version,
                owner=jr.created_by,
                created_at=jr.created_at,
                updated_at=max([vr.created_at, *times]),
            )
        )
    return JourneyPage(total=int(total), items=items)


def list_versions(*, session: Session, journey_id: str) -> list[VersionSummary]:
    """Every version of a journey, newest first, with who made, submitted and approved it."""
    if session.get(JourneyRow, journey_id) is None:
        raise NotFoundError(f"no journey {journey_id!r}", where="journey_id")
    rows = session.scalars(
        select(JourneyVersionRow)
        .where(JourneyVersionRow.journey_id == journey_id)
        .order_by(JourneyVersionRow.version.desc())
    ).all()
    return [
        VersionSummary(
            version=r.version,
            status=r.status,
            created_by=r.created_by,
            submitted_by=r.submitted_by,
            approved_by=r.approved_by,
            created_at=r.created_at,
            nodes=len(r.definition.get("nodes", ()) or ()),  # type: ignore[arg-type]
        )
        for r in rows
    ]
