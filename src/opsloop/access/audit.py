"""The audit log: append-only, tamper-evident (a SHA-256 hash chain), prunable.

Each row stores ``hash = sha256(canonical JSON of its content + prev_hash)``. Editing,
deleting or reordering a row breaks the chain at that row, which :func:`verify` finds.
Appends lock the single ``audit_head`` row first, so concurrent writers never fork the
chain; the audit row commits in the same transaction as the write it describes.
Pruning keeps an anchor (last pruned id and hash), from which verification restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from opsloop.access.clock import as_utc, utcnow
from opsloop.access.models import AuditAnchor, AuditEntry, AuditHead
from opsloop.access.principal import Principal

GENESIS = "0" * 64


def _content(e: AuditEntry) -> bytes:
    body = {
        "id": e.id,
        "at": as_utc(e.at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": e.actor,
        "actor_kind": e.actor_kind,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "ip": e.ip,
        "before": e.before,
        "after": e.after,
        "prev_hash": e.prev_hash,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(e: AuditEntry) -> str:
    return hashlib.sha256(_content(e)).hexdigest()


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    ip: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry in ``session``'s transaction (commits or rolls back with it)."""
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id))
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    entry = AuditEntry(
        id=head.last_id + 1,
        at=as_utc(now or utcnow()),
        actor=actor.id,
        actor_kind=actor.kind,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        before=_json_safe(before),
        after=_json_safe(after),
        prev_hash=head.last_hash,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    head.last_id = entry.id
    head.last_hash = entry.hash
    session.flush()
    return entry


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(value, default=str))
    return loaded


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str | None = None


def verify(session: Session) -> Verification:
    """Recompute the chain; report the first row whose hash or link does not hold."""
    anchor = session.execute(
        select(AuditAnchor).order_by(AuditAnchor.pruned_through_id.desc()).limit(1)
    ).scalar_one_or_none()
    expected_prev = anchor.pruned_hash if anchor else GENESIS
    expected_id = (anchor.pruned_through_id + 1) if anchor else 1
    checked = 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for e in rows:
        if e.id != expected_id:
            return Verification(False, checked, expected_id, f"row {expected_id} is missing")
        if e.prev_hash != expected_prev:
            return Verification(False, checked, e.id, "link to the previous row is broken")
        if entry_hash(e) != e.hash:
            return Verification(False, checked, e.id, "content does not match its hash")
        expected_prev, expected_id = e.hash, e.id + 1
        checked += 1
    head = session.get(AuditHead, 1)
    if head is not None and head.last_hash != expected_prev:
        return Verification(False, checked, expected_id, "rows after this one were removed")
    return Verification(True, checked)


def prune(session: Session, *, older_than_days: int, now: datetime | None = None) -> int:
    """Delete entries older than the retention, leaving an anchor; returns rows deleted."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    last = session.execute(
        select(AuditEntry).where(AuditEntry.at < cutoff).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar_one_or_none()
    if last is None:
        return 0
    session.add(
        AuditAnchor(
            pruned_through_id=last.id,
            pruned_hash=last.hash,
            pruned_at=now or utcnow(),
            note=f"retention {older_than_days} days",
        )
    )
    result = session.execute(delete(AuditEntry).where(AuditEntry.id <= last.id))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(
    session: Session, *, query: AuditQuery, offset: int = 0, limit: int = 100
) -> list[AuditEntry]:
    """Entries matching every given filter, newest first (bound parameters only)."""
    q = select(AuditEntry)
    for column, value in (
        (AuditEntry.actor, query.actor),
        (AuditEntry.action, query.action),
        (AuditEntry.target_type, query.target_type),
        (AuditEntry.target_id, query.target_id),
    ):
        if value is not None:
            q = q.where(column == value)
    if query.since is not None:
        q = q.where(AuditEntry.at >= query.since)
    if query.until is not None:
        q = q.where(AuditEntry.at < query.until)
    q = q.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    return list(session.execute(q).scalars())
