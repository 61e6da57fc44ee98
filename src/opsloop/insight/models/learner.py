"""Gradient-boosted trees (LightGBM) over a feature frame, with per-row reasons.

A :class:`FittedModel` remembers its feature names and the category levels it was
trained on, so scoring new rows codes categories exactly as training did. Reasons
come from LightGBM's own SHAP-style contributions (``pred_contrib=True``): each row's
log-odds split into one part per feature, so "why this customer" is the features
that pushed their score up most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.model_selection import StratifiedKFold

from opsloop.insight.models.metrics import Metrics, evaluate

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
    "deterministic": True,
}
ROUNDS = 400


def to_frame(table: pa.Table, features: list[str]) -> pd.DataFrame:
    """Arrow → pandas with text columns as categories and booleans/ints as floats."""
    df: pd.DataFrame = table.select(features).to_pandas()
    for col in features:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].astype("category")
        elif pd.api.types.is_bool_dtype(df[col]) or pd.api.types.is_integer_dtype(df[col]):
            df[col] = df[col].astype("float64")
    return df


@dataclass
class FittedModel:
    """A trained booster plus what it needs to score new rows the same way."""

    booster: lgb.Booster
    features: list[str]
    categories: dict[str, list[Any]] = field(default_factory=dict)

    def frame(self, table: pa.Table) -> pd.DataFrame:
        df = to_frame(table, self.features)
        for col, levels in self.categories.items():
            df[col] = pd.Categorical(df[col].astype(object), categories=levels)
        return df

    def predict(self, table: pa.Table) -> np.ndarray:
        return np.asarray(self.booster.predict(self.frame(table)), dtype=np.float64)

    def contributions(self, table: pa.Table) -> np.ndarray:
        """Per row and feature, the contribution to the log-odds (last column = bias)."""
        out = self.booster.predict(self.frame(table), pred_contrib=True)
        return np.asarray(out, dtype=np.float64)

    def importance(self) -> dict[str, float]:
        """Total gain per feature, largest first."""
        gain = self.booster.feature_importance(importance_type="gain")
        pairs = sorted(zip(self.features, gain.tolist(), strict=True), key=lambda p: -p[1])
        return {name: round(float(g), 3) for name, g in pairs}


def fit(
    table: pa.Table,
    y: np.ndarray,
    features: list[str],
    *,
    params: dict[str, Any] | None = None,
    rounds: int = ROUNDS,
) -> FittedModel:
    """Train on ``table[features]`` against the 0/1 labels ``y``."""
    df = to_frame(table, features)
    cats = {
        c: list(df[c].cat.categories)
        for c in features
        if isinstance(df[c].dtype, pd.CategoricalDtype)
    }
    data = lgb.Dataset(df, label=np.asarray(y, dtype=np.float64), free_raw_data=True)
    booster = lgb.train({**DEFAULT_PARAMS, **(params or {})}, data, num_boost_round=rounds)
    return FittedModel(booster, list(features), cats)


def holdout(
    train: pa.Table,
    y_train: np.ndarray,
    test: pa.Table,
    y_test: np.ndarray,
    features: list[str],
    *,
    params: dict[str, Any] | None = None,
    rounds: int = ROUNDS,
) -> tuple[FittedModel, Metrics]:
    """Fit on ``train``, measure on ``test`` (e.g. a later period: a time split)."""
    model = fit(train, y_train, features, params=params, rounds=rounds)
    return model, evaluate(y_test, model.predict(test))


def cross_validated(
    table: pa.Table,
    y: np.ndarray,
    features: list[str],
    *,
    folds: int = 5,
    params: dict[str, Any] | None = None,
    rounds: int = ROUNDS,
    seed: int = 7,
) -> tuple[Metrics, np.ndarray]:
    """Stratified k-fold: metrics of the pooled out-of-fold scores (for small data)."""
    y = np.asarray(y, dtype=np.int8)
    oof = np.zeros(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        model = fit(table.take(train_idx), y[train_idx], features, params=params, rounds=rounds)
        oof[test_idx] = model.predict(table.take(test_idx))
    return evaluate(y, oof), oof
