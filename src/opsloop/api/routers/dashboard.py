"""Home dashboard (首页): the few KPIs the console opens on, in the caller's data scope.

One call so the home page renders from a single round trip (first load ≤ 2 s). The
figures come from the monitoring center's KPI analyses (MAU, AUM: already scoped to the
caller) plus one scoped aggregate over ``customers``; journey and activity counts are
bank-level operational state (not customer data), counted by status.

Results are kept for ``CACHE_SECONDS`` per data scope (org path, RM restriction), dataset
and window: on the 100k-customer demo bank the MAU and AUM queries take ~1–2 s cold on a
busy 2-core machine, and a home page is opened far more often than the data changes.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from opsloop.access.principal import Principal
from opsloop.api.deps import StoreDep, WarehouseDep, require
from opsloop.monitor.dashboards.home import Dashboard, home_dashboard

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
Reader = Annotated[Principal, require("analysis:read")]
Dataset = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Months = Annotated[int, Query(ge=1, le=36, description="months of history in the trends")]
CACHE_SECONDS = 60.0
_lock = threading.Lock()


@router.get("")
def dashboard(
    request: Request,
    wh: WarehouseDep,
    store: StoreDep,
    principal: Reader,
    dataset: Dataset = None,
    months: Months = 12,
) -> Dashboard:
    """MAU and AUM by month, customer counts for the latest month, running work."""
    key = (principal.org_path, principal.own_customers_only, principal.rm_id, dataset, months)
    now = time.monotonic()
    with _lock:  # one cache per app (per warehouse), on the app's state
        cache: dict[tuple[Any, ...], tuple[float, Dashboard]] = getattr(
            request.app.state, "dashboard_cache", {}
        )
        request.app.state.dashboard_cache = cache
        hit = cache.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    out = home_dashboard(wh, store, principal, dataset, months)
    with _lock:
        if len(cache) > 10_000:  # keys are scopes × datasets × windows: bounded, but be sure
            cache.clear()
        cache[key] = (now, out)
    return out
