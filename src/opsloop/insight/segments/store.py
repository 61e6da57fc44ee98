"""The segment store (客群): saved, versioned documents with an owner and an org scope.

A segment belongs to the org subtree of the user who created it (``org_path``). It is
visible to callers whose own scope covers that subtree (head office sees a branch's
segments) and to the org units it is shared with (客群共享: head office shares a segment
with branches). Seeing a segment never widens what a caller sees *inside* it: every
query over members goes through the caller's data scope (:mod:`opsloop.access.scope`).

Keyword-only functions over a :class:`~opsloop.store.Store`; every change is audited in
the same transaction as the write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from opsloop.access import audit
from opsloop.access.clock import as_utc, utcnow
from opsloop.access.principal import Principal
from opsloop.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from opsloop.insight.segments.compiler import Resolver
from opsloop.insight.segments.model import SegmentDefinition
from opsloop.insight.segments.service import validate_segment
from opsloop.insight.segments.tables import (
    SegmentRow,
    SegmentShareRow,
    SegmentSnapshotRow,
    SegmentVersionRow,
)
from opsloop.store import Store

SEGMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ORG_PATH = re.compile(r"^/(?:[A-Za-z0-9_-]+/)+$")


@dataclass(frozen=True)
class SavedSegment:
    """A segment as the store knows it: metadata plus the latest definition."""

    segment_id: str
    name: str
    kind: str
    status: str
    owner: str
    org_path: str
    version: int
    refresh_cron: str | None
    dataset: str | None
    shared_with: tuple[str, ...]
    definition: SegmentDefinition
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """JSON-ready view (the definition as its document)."""
        return {
            "segment_id": self.segment_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "owner": self.owner,
            "org_path": self.org_path,
            "version": self.version,
            "refresh_cron": self.refresh_cron,
            "dataset": self.dataset,
            "shared_with": list(self.shared_with),
            "definition": self.definition.model_dump(mode="json", exclude_none=True),
            "created_at": as_utc(self.created_at),
            "updated_at": as_utc(self.updated_at),
        }


# -- visibility ----------------------------------------------------------------------------


def person(principal: Principal) -> str:
    """The person behind a principal: a user's API token acts as that user (``alice#token3``)."""
    return principal.id.split("#", 1)[0]


def covers(principal: Principal, org_path: str) -> bool:
    """The caller's scope includes the whole ``org_path`` subtree (and not only own customers)."""
    return not principal.own_customers_only and org_path.startswith(principal.org_path)


def _visible(row: SegmentRow, shares: tuple[str, ...], principal: Principal) -> bool:
    if row.owner == person(principal) or row.org_path.startswith(principal.org_path):
        return True
    return any(principal.org_path.startswith(p) for p in shares)


def _can_edit(row: SegmentRow, principal: Principal) -> bool:
    """The owner, or anyone whose scope covers the segment's subtree, may change it."""
    return row.owner == person(principal) or covers(principal, row.org_path)


def check_cron(expr: str | None) -> str | None:
    """A five-field cron schedule, or an error naming ``refresh_cron``."""
    if expr is None:
        return None
    from opsloop.strategy.cron import parse

    try:
        parse(expr)
    except ValueError as exc:
        raise InvalidInputError(str(exc), where="refresh_cron") from None
    return expr


# -- reading -------------------------------------------------------------------------------


def _shares(s: Session, segment_id: str) -> tuple[str, ...]:
    q = select(SegmentShareRow.org_path).where(SegmentShareRow.segment_id == segment_id)
    return tuple(sorted(s.scalars(q)))


def _load(s: Session, row: SegmentRow, version: int | None = None) -> SavedSegment:
    v = s.get(SegmentVersionRow, (row.segment_id, version or row.latest_version))
    if v is None:
        raise NotFoundError(f"segment {row.segment_id!r} has no version {version}", where="version")
    doc = dict(v.definition) | {"id": row.segment_id, "version": v.version}
    return SavedSegment(
        segment_id=row.segment_id,
        name=row.name,
        kind=row.kind,
        status=row.status,
        owner=row.owner,
        org_path=row.org_path,
        version=v.version,
        refresh_cron=row.refresh_cron,
        dataset=row.dataset,
        shared_with=_shares(s, row.segment_id),
        definition=SegmentDefinition.model_validate(doc),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _row(s: Session, segment_id: str, principal: Principal | None) -> SegmentRow:
    row = s.get(SegmentRow, segment_id)
    if row is None or (
        principal is not None and not _visible(row, _shares(s, segment_id), principal)
    ):
        raise NotFoundError(f"no segment {segment_id!r}", where="segment_id")
    return row


def get(
    store: Store, *, segment_id: str, principal: Principal | None, version: int | None = None
) -> SavedSegment:
    """One segment the caller may see (404 otherwise, so existence does not leak)."""
    with store.session() as s:
        return _load(s, _row(s, segment_id, principal), version)


def list_segments(
    store: Store,
    *,
    principal: Principal,
    owner: str | None = None,
    include_archived: bool = False,
) -> list[SavedSegment]:
    """Segments the caller may see: in their subtree, their own, or shared with them."""
    with store.session() as s:
        q = select(SegmentRow).order_by(SegmentRow.segment_id)
        if owner is not None:
            q = q.where(SegmentRow.owner == owner)
        if not include_archived:
            q = q.where(SegmentRow.status == "active")
        shared = select(SegmentShareRow.segment_id).where(
            or_(*[SegmentShareRow.org_path == p for p in _ancestors(principal.org_path)])
        )
        q = q.where(
            or_(
                SegmentRow.owner == person(principal),
                SegmentRow.org_path.startswith(principal.org_path, autoescape=True),
                SegmentRow.segment_id.in_(shared),
            )
        )
        return [_load(s, r) for r in s.scalars(q)]


def _ancestors(org_path: str) -> list[str]:
    """``/HO/B01/S1/`` → ``/HO/``, ``/HO/B01/``, ``/HO/B01/S1/``: shares that reach it."""
    parts = [p for p in org_path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def resolver(store: Store, principal: Principal | None) -> Resolver:
    """``in_segment`` conditions resolve saved segments the caller may see (latest version)."""

    def resolve(segment_id: str) -> SegmentDefinition:
        return get(store, segment_id=segment_id, principal=principal).definition

    return resolve


# -- writing -------------------------------------------------------------------------------


def create(
    store: Store,
    *,
    principal: Principal,
    doc: Any,
    kind: str = "rule",
    refresh_cron: str | None = None,
    dataset: str | None = None,
    ip: str | None = None,
) -> SavedSegment:
    """Save a new segment (version 1) owned by the caller, scoped to their subtree.

    Raises:
        SegmentValidationError: the document is invalid (every problem with its JSON path).
        ConflictError: the id is taken.
    """
    defn = validate_segment(doc)
    if defn.id is None:
        raise InvalidInputError("a saved segment needs an id", where="id")
    check_cron(refresh_cron)
    now = utcnow()
    with store.session() as s:
        if s.get(SegmentRow, defn.id) is not None:
            raise ConflictError(f"segment {defn.id!r} exists; update it instead", where="id")
        row = SegmentRow(
            segment_id=defn.id,
            name=defn.name,
            kind=kind,
            status="active",
            owner=person(principal),
            org_path=principal.org_path,
            latest_version=1,
            refresh_cron=refresh_cron,
            dataset=dataset,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.add(_version(defn, 1, principal, now))
        s.flush()
        audit.record(
            s,
            actor=principal,
            action="segment.create",
            target_type="segment",
            target_id=defn.id,
            ip=ip,
            after={"name": defn.name, "kind": kind, "org_path": principal.org_path},
        )
        return _load(s, row)


def _version(
    defn: SegmentDefinition, version: int, principal: Principal, now: datetime
) -> SegmentVersionRow:
    doc = defn.model_dump(mode="json", exclude_none=True) | {"version": version}
    return SegmentVersionRow(
        segment_id=defn.id,
        version=version,
        definition=doc,
        created_by=person(principal),
        created_at=now,
    )


def update(
    store: Store,
    *,
    principal: Principal,
    segment_id: str,
    doc: Any,
    refresh_cron: str | None = None,
    ip: str | None = None,
) -> SavedSegment:
    """Save a new version of the document (older versions stay readable)."""
    defn = validate_segment(doc)
    if defn.id is not None and defn.id != segment_id:
        raise InvalidInputError(f"document id {defn.id!r} is not {segment_id!r}", where="id")
    check_cron(refresh_cron)
    now = utcnow()
    with store.session() as s:
        row = _writable(s, segment_id, principal)
        version = row.latest_version + 1
        defn = defn.model_copy(update={"id": segment_id})
        s.add(_version(defn, version, principal, now))
        before = {"version": row.latest_version, "name": row.name}
        row.latest_version, row.name, row.updated_at = version, defn.name, now
        if refresh_cron is not None:
            row.refresh_cron = refresh_cron
        s.flush()
        audit.record(
            s,
            actor=principal,
            action="segment.update",
            target_type="segment",
            target_id=segment_id,
            ip=ip,
            before=before,
            after={"version": version, "name": defn.name},
        )
        return _load(s, row)


def _writable(s: Session, segment_id: str, principal: Principal) -> SegmentRow:
    row = _row(s, segment_id, principal)
    if not _can_edit(row, principal):
        raise ForbiddenError(
            f"segment {segment_id!r} belongs to {row.org_path}; only its owner or a user "
            "whose scope covers that subtree may change it",
            where="segment_id",
        )
    return row


def archive(
    store: Store, *, principal: Principal, segment_id: str, ip: str | None = None
) -> SavedSegment:
    """Archive (soft-delete): hidden from lists, history and snapshots kept for audit."""
    with store.session() as s:
        row = _writable(s, segment_id, principal)
        row.status, row.updated_at = "archived", utcnow()
        audit.record(
            s,
            actor=principal,
            action="segment.archive",
            target_type="segment",
            target_id=segment_id,
            ip=ip,
        )
        return _load(s, row)


def share(
    store: Store,
    *,
    principal: Principal,
    segment_id: str,
    org_paths: list[str],
    replace: bool = True,
    ip: str | None = None,
) -> SavedSegment:
    """Share with org units (each sees its own customers in it); ``replace`` sets the list."""
    for i, p in enumerate(org_paths):
        if not ORG_PATH.match(p):
            raise InvalidInputError(
                f"{p!r} is not an org path like /HO/B01/", where=f"org_paths[{i}]"
            )
    with store.session() as s:
        row = _writable(s, segment_id, principal)
        before = list(_shares(s, segment_id))
        if replace:
            s.execute(delete(SegmentShareRow).where(SegmentShareRow.segment_id == segment_id))
        now = utcnow()
        for p in sorted(set(org_paths) - (set() if replace else set(before))):
            s.add(
                SegmentShareRow(
                    segment_id=segment_id, org_path=p, shared_by=person(principal), shared_at=now
                )
            )
        s.flush()
        audit.record(
            s,
            actor=principal,
            action="segment.share",
            target_type="segment",
            target_id=segment_id,
            ip=ip,
            before={"shared_with": before},
            after={"shared_with": list(_shares(s, segment_id))},
        )
        return _load(s, row)


def snapshots(
    store: Store, *, principal: Principal, segment_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """Size history of a segment, newest first (sizes are bank-wide snapshot sizes)."""
    with store.session() as s:
        _row(s, segment_id, principal)
        q = (
            select(SegmentSnapshotRow)
            .where(SegmentSnapshotRow.segment_id == segment_id)
            .order_by(SegmentSnapshotRow.materialised_at.desc(), SegmentSnapshotRow.id.desc())
            .limit(limit)
        )
        return [
            {
                "version": r.version,
                "materialised_at": as_utc(r.materialised_at),
                "as_of": r.as_of,
                "size": r.size,
                "created_by": r.created_by,
            }
            for r in s.scalars(q)
        ]
