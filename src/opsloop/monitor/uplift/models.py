"""Uplift models: who changes their behaviour *because* they were contacted.

Two standard approaches over the same gradient-boosted trees (LightGBM):

- **T-learner** (two models): one classifier on the treated, one on the control;
  uplift(x) = P̂(y=1 | x, treated) − P̂(y=1 | x, control).
- **Class transformation** (Jaskowski & Jaroszewicz 2012): z = 1 when (treated and
  responded) or (control and did not respond); with treated and control weighted to
  equal totals, P(z=1 | x) = (1 + uplift(x)) / 2, so one classifier gives
  uplift(x) = 2·P̂(z=1 | x) − 1. The weights make it valid for any treated share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from opsloop.errors import InvalidInputError

Method = Literal["t_learner", "class_transformation"]
METHODS: tuple[Method, ...] = ("t_learner", "class_transformation")


def _classifier(seed: int) -> Any:
    import lightgbm as lgb  # imported here: the module's pure parts load without it

    # Small, regularised trees: uplift signals are weak and the data sets modest.
    return lgb.LGBMClassifier(
        n_estimators=200,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=200,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )


@dataclass
class UpliftModel:
    """A fitted uplift model; :meth:`predict` returns the estimated uplift per row."""

    method: Method
    seed: int = 0
    _models: list[Any] = field(default_factory=list, repr=False)

    def fit(
        self, x: NDArray[np.float64], y: NDArray[np.float64], t: NDArray[np.int64]
    ) -> UpliftModel:
        """Fit on features ``x``, binary outcome ``y`` and treatment flag ``t`` (0/1)."""
        resp = (np.asarray(y) > 0).astype(np.int64)
        ta = np.asarray(t)
        if not np.isin(ta, (0, 1)).all() or ta.min() == ta.max():
            raise InvalidInputError("need treated (1) and control (0) rows", where="treatment")
        if resp.min() == resp.max():
            raise InvalidInputError("the outcome never varies: nothing to learn", where="outcome")
        if self.method == "t_learner":
            self._models = [
                _classifier(self.seed).fit(x[ta == arm], resp[ta == arm]) for arm in (1, 0)
            ]
        else:
            z = (resp == ta).astype(np.int64)
            share = ta.mean()
            w = np.where(ta == 1, 0.5 / share, 0.5 / (1.0 - share))
            self._models = [_classifier(self.seed).fit(x, z, sample_weight=w)]
        return self

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self._models:
            raise InvalidInputError("fit the model before predicting", where="model")
        if self.method == "t_learner":
            treated, control = (m.predict_proba(x)[:, 1] for m in self._models)
            return np.asarray(treated - control, dtype=np.float64)
        return np.asarray(2.0 * self._models[0].predict_proba(x)[:, 1] - 1.0, dtype=np.float64)
