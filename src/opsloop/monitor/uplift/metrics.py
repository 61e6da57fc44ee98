"""Uplift evaluation: Qini and uplift curves, their normalised areas, uplift at k.

Pure numpy over (outcome, treatment flag, predicted uplift). Customers are ranked by
predicted uplift (highest first); tied scores enter together (one curve point per
distinct score), so the curve does not depend on how ties happen to be ordered.
Definitions follow Radcliffe (2007) and the normalisation scikit-uplift uses:

- Qini curve: ``Q(k) = Yt(k) − Yc(k)·Nt(k)/Nc(k)`` (incremental responders among the
  top k, control scaled to the treated count; 0 where no control is in the top k).
- Uplift curve: ``U(k) = (Yt(k)/Nt(k) − Yc(k)/Nc(k))·k``.
- Areas by the trapezoid rule from (0, 0); the random targeting baseline is the straight
  line to the curve's end point; the *coefficient* is (area − baseline) / (perfect area
  − baseline), where the perfect ranking puts treated responders first, control
  responders last (score ``y·t − y·(1 − t)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opsloop.errors import InvalidInputError

Kind = Literal["qini", "uplift"]


@dataclass(frozen=True, slots=True)
class Curve:
    """Points (customers targeted, gain) from (0, 0), one per distinct score."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def area(self) -> float:
        """Trapezoid area under the curve."""
        dx = np.diff(self.x)
        return float(np.sum(dx * (self.y[1:] + self.y[:-1]) / 2.0))

    def random_area(self) -> float:
        """Area under the straight line from (0, 0) to the curve's end (random targeting)."""
        return float(self.x[-1] * self.y[-1] / 2.0)


def _check(
    y: ArrayLike, t: ArrayLike, score: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(t)
    if ya.ndim != 1 or ta.shape != ya.shape:
        raise InvalidInputError("outcome and treatment must be 1-d and of one length", where="t")
    if not np.isin(ta, (0, 1)).all():
        raise InvalidInputError("treatment must be 0 (control) or 1 (treated)", where="t")
    if not np.isfinite(ya).all():
        raise InvalidInputError("outcome must be finite numbers", where="y")
    sa = np.zeros_like(ya) if score is None else np.asarray(score, dtype=np.float64)
    if sa.shape != ya.shape or not np.isfinite(sa).all():
        raise InvalidInputError("scores must be finite and one per customer", where="score")
    if ta.sum() == 0 or ta.sum() == len(ta):
        raise InvalidInputError("need both treated and control customers", where="t")
    return ya, ta.astype(np.int64), sa


def curve(y: ArrayLike, t: ArrayLike, score: ArrayLike, *, kind: Kind = "qini") -> Curve:
    """The Qini (or uplift) curve of ranking customers by ``score`` (see module doc)."""
    ya, ta, sa = _check(y, t, score)
    order = np.argsort(-sa, kind="mergesort")
    ya, ta, sa = ya[order], ta[order], sa[order]
    ends = np.r_[np.nonzero(np.diff(sa))[0], sa.size - 1]  # last index of each tie group
    n_t = np.cumsum(ta)[ends].astype(np.float64)
    n_all = (ends + 1).astype(np.float64)
    n_c = n_all - n_t
    y_t = np.cumsum(ya * ta)[ends]
    y_c = np.cumsum(ya * (1 - ta))[ends]
    safe_c = np.where(n_c > 0, n_c, 1.0)
    if kind == "qini":
        gain = y_t - np.where(n_c > 0, y_c * n_t / safe_c, 0.0)
    else:
        rate_t = np.where(n_t > 0, y_t / np.where(n_t > 0, n_t, 1.0), 0.0)
        rate_c = np.where(n_c > 0, y_c / safe_c, 0.0)
        gain = (rate_t - rate_c) * n_all
    return Curve(np.r_[0.0, n_all], np.r_[0.0, gain])


def perfect_curve(y: ArrayLike, t: ArrayLike, *, kind: Kind = "qini") -> Curve:
    """The best possible ranking. Qini: treated responders first, control responders
    last. Uplift curve (a rate difference, so the order within the top matters too):
    responders-in-treatment and non-responders-in-control first, then whichever of
    control responders / treated non-responders is rarer (scikit-uplift's choice)."""
    ya, ta, _ = _check(y, t, None)
    if kind == "qini":
        return curve(ya, ta, ya * ta - ya * (1 - ta), kind=kind)
    resp = ya > 0
    control_responders = int(np.sum(resp & (ta == 0)))
    treated_silent = int(np.sum(~resp & (ta == 1)))
    extra = resp if control_responders > treated_silent else ta == 1
    return curve(ya, ta, 2.0 * (resp == (ta == 1)) + extra, kind=kind)


def coefficient(y: ArrayLike, t: ArrayLike, score: ArrayLike, *, kind: Kind = "qini") -> float:
    """Normalised area: 0 = random targeting, 1 = the perfect ranking (Qini coefficient
    for ``kind="qini"``, normalised AUUC for ``"uplift"``)."""
    actual = curve(y, t, score, kind=kind)
    best = perfect_curve(y, t, kind=kind)
    base = best.random_area()
    denom = best.area() - base
    return float("nan") if denom == 0 else (actual.area() - base) / denom


def uplift_at_k(y: ArrayLike, t: ArrayLike, score: ArrayLike, *, k: float = 0.3) -> float:
    """Treated minus control response rate among the top ``k`` share of all customers
    ranked by score (ties: later rows first, as scikit-uplift's ``strategy="overall"``)."""
    ya, ta, sa = _check(y, t, score)
    if not 0 < k < 1:
        raise InvalidInputError("k is a share in (0, 1)", where="k")
    top = np.argsort(sa, kind="mergesort")[::-1][: int(len(ya) * k)]
    yt, tt = ya[top], ta[top]
    if tt.sum() == 0 or tt.sum() == len(tt):
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())
