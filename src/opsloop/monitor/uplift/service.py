"""Uplift report from an experiment in the warehouse: fit on one part, judge on the rest.

One Ibis query joins an experiment's assignments (two arms), one outcome metric and the
customers' feature columns; the models and the evaluation then run in memory. The
held-out split is stratified by arm × outcome with a fixed seed, so a report can be
reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.monitor.uplift.metrics import coefficient, curve, perfect_curve, uplift_at_k
from opsloop.monitor.uplift.models import METHODS, Method, UpliftModel
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import TABLES_BY_NAME

_CANONICAL = set(TABLES_BY_NAME["customers"].column_names)


def uplift_report(
    *,
    wh: Warehouse,
    treatment: str,
    control: str,
    outcome: str,
    dataset: str | None = None,
    experiment_id: str | None = None,
    features: Sequence[str] | None = None,
    methods: Sequence[Method] = METHODS,
    test_share: float = 0.3,
    k: float = 0.3,
    seed: int = 0,
    points: int = 50,
) -> dict[str, Any]:
    """Fit each uplift method for ``treatment`` vs ``control`` on ``outcome``; evaluate
    Qini coefficient, normalised AUUC and uplift at ``k`` on the held-out share.

    Args:
        features: customer columns to learn from (default: the columns a data set brought
            beyond the canonical ``customers`` schema, e.g. Hillstrom's recency, history…).
        points: curve points returned for charts (evenly spaced in customers targeted).
    """
    if not 0.05 <= test_share <= 0.9:
        raise InvalidInputError("test_share must be in [0.05, 0.9]", where="test_share")
    if treatment == control:
        raise InvalidInputError("treatment and control must be different arms", where="control")
    x, y, t, names = _load(wh, dataset, experiment_id, treatment, control, outcome, features)
    test = _split(y, t, test_share, seed)
    yt, tt = y[test], t[test]
    if tt.min() == tt.max():
        raise InvalidInputError("the held-out part lacks one arm: too few rows", where="$")
    out: dict[str, Any] = {
        "treatment": treatment,
        "control": control,
        "outcome": outcome,
        "features": names,
        "train": int((~test).sum()),
        "test": int(test.sum()),
        "test_treated_rate": float(yt[tt == 1].mean()),
        "test_control_rate": float(yt[tt == 0].mean()),
        "k": k,
        "seed": seed,
        "methods": [],
    }
    out["test_ate"] = out["test_treated_rate"] - out["test_control_rate"]
    best = perfect_curve(yt, tt)
    for method in methods:
        model = UpliftModel(method, seed=seed).fit(x[~test], y[~test], t[~test])
        score = model.predict(x[test])
        q = curve(yt, tt, score)
        out["methods"].append(
            {
                "method": method,
                "qini_coefficient": coefficient(yt, tt, score),
                "auuc": coefficient(yt, tt, score, kind="uplift"),
                "qini_area": q.area(),
                "random_area": q.random_area(),
                "perfect_area": best.area(),
                "uplift_at_k": uplift_at_k(yt, tt, score, k=k),
                "qini_curve": _sample(q.x, q.y, points),
            }
        )
    return out


def _load(
    wh: Warehouse,
    dataset: str | None,
    experiment_id: str | None,
    treatment: str,
    control: str,
    outcome: str,
    features: Sequence[str] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], list[str]]:
    a = wh.table("experiment_assignments", dataset=dataset)
    o = wh.table("experiment_outcomes", dataset=dataset)
    c = wh.table("customers", dataset=dataset)
    names = list(features) if features else [n for n in c.columns if n not in _CANONICAL]
    bad = [n for n in names if n not in c.columns]
    if bad:
        raise NotFoundError(f"no customer column {bad[0]!r}", where="features")
    if not names:
        raise InvalidInputError("name the customer columns to learn from", where="features")
    a = a.filter(a.arm.isin([treatment, control]))
    o = o.filter(o.metric == outcome)
    if experiment_id is not None:
        a = a.filter(a.experiment_id == experiment_id)
        o = o.filter(o.experiment_id == experiment_id)
    j = a.join(o, [a.customer_id == o.customer_id, a.experiment_id == o.experiment_id])
    j = j.select(cid=a.customer_id, arm=a.arm, y=o.value)
    j = j.join(c, j.cid == c.customer_id).select("cid", "arm", "y", *names).order_by("cid")
    data: pa.Table = wh.execute(j)
    arms = data["arm"].to_numpy(zero_copy_only=False)
    for arm, where in ((treatment, "treatment"), (control, "control")):
        if not (arms == arm).any():
            raise NotFoundError(f"arm {arm!r} has no customers with {outcome!r}", where=where)
    t = (arms == treatment).astype(np.int64)
    y = np.asarray(data["y"].to_numpy(zero_copy_only=False), dtype=np.float64)
    cols = [_encode(data[n]) for n in names]
    return np.column_stack(cols), (y > 0).astype(np.float64), t, names


def _encode(col: pa.ChunkedArray) -> NDArray[np.float64]:
    """Numbers and flags as floats (null → NaN, which the trees handle); text as the rank
    of its value among the sorted distinct values."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        values = np.asarray(col.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
        _, codes = np.unique(values.astype(str), return_inverse=True)
        return codes.astype(np.float64)
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col.cast(pa.int32())
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _split(y: NDArray[np.float64], t: NDArray[np.int64], share: float, seed: int) -> NDArray[Any]:
    """Held-out mask, stratified by arm × outcome (each stratum split in ``share``)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for stratum in np.unique(t * 2 + (y > 0)):
        idx = np.flatnonzero(t * 2 + (y > 0) == stratum)
        pick = rng.permutation(idx)[: round(len(idx) * share)]
        test[pick] = True
    return test


def _sample(x: NDArray[np.float64], y: NDArray[np.float64], points: int) -> list[list[float]]:
    """About ``points`` (share targeted, gain) pairs, first and last included."""
    idx = np.unique(np.linspace(0, len(x) - 1, max(2, points)).round().astype(int))
    return [[float(x[i] / x[-1]), float(y[i])] for i in idx]
