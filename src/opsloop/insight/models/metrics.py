"""Model quality on a held-out set: ranking metrics a campaign manager can act on.

ROC AUC and PR-AUC come from scikit-learn (tested implementations); lift at the top
decile is the response rate among the 10% highest scores over the overall rate — "if
we call the top 10%, how many times better than calling at random".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


@dataclass(frozen=True)
class Metrics:
    """Held-out quality: sizes, base rate and the three ranking metrics."""

    n: int
    positives: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    lift_top_decile: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def lift_at(y: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the top ``share`` by score over the overall positive rate.

    Ties at the cut are broken by a stable sort on the negated score, so the result is
    deterministic.
    """
    n = len(y)
    base = float(np.mean(y))
    if n == 0 or base == 0.0:
        return float("nan")
    k = max(1, round(n * share))
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.mean(y[top])) / base


def evaluate(y: np.ndarray, score: np.ndarray) -> Metrics:
    """ROC AUC, PR-AUC (average precision) and top-decile lift of ``score`` against ``y``."""
    y = np.asarray(y, dtype=np.int8)
    score = np.asarray(score, dtype=np.float64)
    both = 0 < int(y.sum()) < len(y)
    return Metrics(
        n=len(y),
        positives=int(y.sum()),
        base_rate=float(y.mean()) if len(y) else float("nan"),
        roc_auc=float(roc_auc_score(y, score)) if both else float("nan"),
        pr_auc=float(average_precision_score(y, score)) if both else float("nan"),
        lift_top_decile=lift_at(y, score, 0.1),
    )
