"""Who may take part: Insight segments, KYC risk level (from the warehouse) and channel.

An activity's ``eligibility`` names saved segments (any one admits), KYC risk levels
and channels. Membership is never taken from the caller: segment members are the
segment's latest materialised snapshot (Insight's ``segment_members``) and the KYC
level is the customer's ``kyc_risk_level`` in the warehouse. Both are loaded as sorted
id arrays and cached per activity *version*; a segment's array is reloaded when the
segment is re-materialised (its latest snapshot time changes — checked at most every
``check_seconds``), the KYC array every ``kyc_seconds``. A lookup is a binary search.

:meth:`Audience.refresh` reads the stores (call it off the event loop);
:meth:`Audience.admits` only reads the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from opsloop.activity.benefits import Eligibility
from opsloop.errors import ConflictError, ForbiddenError
from opsloop.insight.segments import store as segstore
from opsloop.insight.segments.tables import SegmentSnapshotRow
from opsloop.store import Store
from opsloop.warehouse import Warehouse

MEMBERS = "segment_members"  # Insight's snapshot table (opsloop.insight.segments.materialise)
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _Ids:
    source: object  # what the ids were loaded from (snapshot time, KYC levels)
    ids: Any  # sorted np.ndarray[int64]
    checked: float


def _kyc_key(e: Eligibility) -> str:
    return "kyc:" + ",".join(str(k) for k in sorted(e.kyc_risk_levels))


def _has(ids: Any, customer_id: int) -> bool:
    i = int(np.searchsorted(ids, customer_id))
    return i < len(ids) and int(ids[i]) == customer_id


class Audience:
    """Eligibility id sets per (activity, version), refreshed from Insight and the warehouse."""

    def __init__(
        self,
        store: Store,
        wh: Warehouse,
        *,
        check_seconds: float = 5.0,
        kyc_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.wh = store, wh
        self.check_seconds, self.kyc_seconds, self.clock = check_seconds, kyc_seconds, clock
        self._cache: dict[tuple[str, int, str], _Ids] = {}
        self._lock = threading.Lock()
        self.loads = 0  # id arrays read from the warehouse (tests check the caching)

    @staticmethod
    def _sources(e: Eligibility) -> list[str]:
        out = [f"segment:{s}" for s in e.segment_ids]
        return out + ([_kyc_key(e)] if e.kyc_risk_levels else [])

    def stale(self, activity_id: str, version: int, e: Eligibility) -> bool:
        now = self.clock()
        for src in self._sources(e):
            hit = self._cache.get((activity_id, version, src))
            limit = self.kyc_seconds if src.startswith("kyc:") else self.check_seconds
            if hit is None or now - hit.checked >= limit:
                return True
        return False

    def refresh(self, activity_id: str, version: int, e: Eligibility) -> None:
        """Reload what is missing or due (blocking: SQL and warehouse reads)."""
        with self._lock:
            if not self.stale(activity_id, version, e):
                return
            for key in [k for k in self._cache if k[0] == activity_id and k[1] != version]:
                del self._cache[key]  # an older version's sets
            now = self.clock()
            for seg in e.segment_ids:
                key = (activity_id, version, f"segment:{seg}")
                hit = self._cache.get(key)
                if hit is not None and now - hit.checked < self.check_seconds:
                    continue
                snap = self._latest(seg)
                if hit is not None and hit.source == snap:
                    self._cache[key] = _Ids(hit.source, hit.ids, now)
                else:
                    self._cache[key] = _Ids(snap, self._members(seg, snap), now)
            if e.kyc_risk_levels:
                key = (activity_id, version, _kyc_key(e))
                hit = self._cache.get(key)
                if hit is None or now - hit.checked >= self.kyc_seconds:
                    self._cache[key] = _Ids(e.kyc_risk_levels, self._kyc(e.kyc_risk_levels), now)

    def _latest(self, segment_id: str) -> datetime | None:
        with self.store.session() as s:
            at = s.execute(
                select(SegmentSnapshotRow.materialised_at)
                .where(SegmentSnapshotRow.segment_id == segment_id)
                .order_by(SegmentSnapshotRow.materialised_at.desc(), SegmentSnapshotRow.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if at is None:
            return None
        return at if at.tzinfo else at.replace(tzinfo=UTC)

    def _members(self, segment_id: str, snap: datetime | None) -> Any:
        if snap is None:
            return _EMPTY  # never materialised: nobody is in it yet
        seg = segstore.get(self.store, segment_id=segment_id, principal=None)
        ds = seg.dataset or self.wh.default_dataset
        if MEMBERS not in self.wh.tables(ds):
            return _EMPTY
        m = self.wh.table(MEMBERS, dataset=ds)
        at = snap.astimezone(UTC).replace(tzinfo=None)
        ids = m.filter(m.segment_id == segment_id, m.materialised_at == at).select("customer_id")
        self.loads += 1
        return self._sorted(self.wh.execute(ids).column(0))

    def _kyc(self, levels: tuple[int, ...]) -> Any:
        c = self.wh.table("customers")
        ids = c.filter(c.kyc_risk_level.isin(list(levels))).select("customer_id")
        self.loads += 1
        return self._sorted(self.wh.execute(ids).column(0))

    @staticmethod
    def _sorted(col: Any) -> Any:
        arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.unique(arr)  # sorted, distinct

    def admits(
        self, activity_id: str, version: int, e: Eligibility, customer_id: int
    ) -> str | None:
        """``None`` when the customer is eligible, else the field that refused them."""
        if e.kyc_risk_levels:
            kyc = self._cache.get((activity_id, version, _kyc_key(e)))
            if kyc is None:
                raise ConflictError("eligibility not loaded", where="kyc_risk_levels")
            if not _has(kyc.ids, customer_id):
                return "kyc_risk_level"
        if e.segment_ids:
            for seg in e.segment_ids:
                hit = self._cache.get((activity_id, version, f"segment:{seg}"))
                if hit is None:
                    raise ConflictError("eligibility not loaded", where="segment_ids")
                if _has(hit.ids, customer_id):
                    return None
            return "segment_ids"
        return None


_MESSAGES = {
    "channel": "channel not eligible",
    "kyc_risk_level": "KYC risk level not eligible",
    "segment_ids": "customer is not in an eligible segment",
}


def check(
    e: Eligibility,
    *,
    audience: Audience | None,
    activity_id: str,
    version: int,
    customer_id: int,
    channel: str | None,
) -> None:
    """Refuse (403, naming the rule) a customer the eligibility does not admit.

    Raises:
        ForbiddenError: not eligible (``where``: channel, kyc_risk_level, segment_ids).
        ConflictError: the activity needs segment or KYC data and no warehouse is wired.
    """
    if e.channels and channel not in e.channels:
        raise ForbiddenError(_MESSAGES["channel"], where="channel")
    if not (e.segment_ids or e.kyc_risk_levels):
        return
    if audience is None:
        raise ConflictError("eligibility needs the warehouse", where="eligibility")
    if audience.stale(activity_id, version, e):
        audience.refresh(activity_id, version, e)
    where = audience.admits(activity_id, version, e, customer_id)
    if where is not None:
        raise ForbiddenError(_MESSAGES[where], where=where)
