"""The audit log for auditors (audit:read): search and chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from opsloop.access import audit
from opsloop.access.schemas import AuditPublic
from opsloop.api.deps import StoreDep, require

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[require("audit:read")])
Text = Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00]*$")]


@router.get("")
def search_audit(
    store: StoreDep,
    actor: Text = None,
    action: Text = None,
    target_type: Text = None,
    target_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditPublic]:
    """Entries matching all given filters, newest first."""
    query = audit.AuditQuery(actor, action, target_type, target_id, since, until)
    with store.session() as s:
        rows = audit.search(s, query=query, offset=offset, limit=limit)
        return [AuditPublic.model_validate(r, from_attributes=True) for r in rows]


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    broken_id: int | None
    reason: str | None


@router.get("/verify")
def verify_audit(store: StoreDep) -> VerifyResult:
    """Recompute the hash chain; names the first broken row."""
    with store.session() as s:
        v = audit.verify(s)
    return VerifyResult(ok=v.ok, checked=v.checked, broken_id=v.broken_id, reason=v.reason)
