"""Scores written back to the warehouse (``model_scores``) and high-potential lists (高潜名单).

``model_scores`` holds one row per customer and model (customer_id, model, score, band,
scored_at, reasons): a rescore replaces that model's rows and keeps the others, so
segments and tags can filter on a band with an ordinary join. Bands are by rank —
the top 10% ``high``, the next 20% ``medium``, the rest ``low`` — so "high" means the
same share of customers whatever the score scale.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import numpy as np
import orjson
import pyarrow as pa

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer
from opsloop.errors import NotFoundError
from opsloop.warehouse import Warehouse

TABLE = "model_scores"
SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("band", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us"), nullable=False),
        pa.field("reasons", pa.string()),
    ]
)
BANDS = ((0.10, "high"), (0.30, "medium"), (1.01, "low"))
REASONS = 3


def bands(score: np.ndarray) -> list[str]:
    """``high``/``medium``/``low`` by rank share (ties broken by position)."""
    n = len(score)
    order = np.argsort(-score, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    share = (rank + 1) / max(n, 1)
    out = np.full(n, "low", dtype=object)
    for cut, name in reversed(BANDS):
        out[share <= cut] = name
    return [str(b) for b in out]


def reasons(contrib: np.ndarray, features: list[str], values: pa.Table) -> list[str]:
    """Per row, the features that raised the score most, as JSON
    ``[{"feature", "value", "contribution"}]`` (positive contributions only)."""
    cols = {f: values.column(f).to_pylist() for f in features}
    out: list[str] = []
    top = np.argsort(-contrib[:, :-1], axis=1)[:, :REASONS]
    for i, idx in enumerate(top):
        items = [
            {"feature": features[j], "value": _plain(cols[features[j]][i]),
             "contribution": round(float(contrib[i, j]), 4)}
            for j in idx
            if contrib[i, j] > 0
        ]  # fmt: skip
        out.append(orjson.dumps(items).decode())
    return out


def _plain(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def write_scores(
    *,
    wh: Warehouse,
    model: str,
    customer_id: np.ndarray,
    score: np.ndarray,
    reasons: list[str] | None,
    scored_at: dt.datetime,
    dataset: str | None = None,
) -> int:
    """Replace ``model``'s rows in ``model_scores`` (other models' rows are kept)."""
    n = len(customer_id)
    new = pa.table(
        {
            "customer_id": pa.array(customer_id, pa.int64()),
            "model": pa.array([model] * n, pa.string()),
            "score": pa.array(score, pa.float64()),
            "band": pa.array(bands(np.asarray(score)), pa.string()),
            "scored_at": pa.array([scored_at] * n, pa.timestamp("us")),
            "reasons": pa.array(reasons if reasons is not None else [None] * n, pa.string()),
        },
        schema=SCHEMA,
    )
    if TABLE in wh.tables(dataset):
        old = wh.table(TABLE, dataset=dataset)
        kept = wh.execute(old.filter(old.model != model).select(*SCHEMA.names))
        new = pa.concat_tables([kept.cast(SCHEMA), new])
    wh.replace_tables({TABLE: new}, dataset=dataset)
    return n


def high_potential(
    *,
    wh: Warehouse,
    principal: Principal,
    model: str,
    k: int = 100,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """The caller's top-``k`` customers by ``model``'s score, with the reasons."""
    if TABLE not in wh.tables(dataset):
        raise NotFoundError("no model scores yet: run `opsloop model train`", where="model")
    s = scoped_by_customer(
        wh.table(TABLE, dataset=dataset), wh.table("customers", dataset=dataset), principal
    )
    s = s.filter(s.model == model)
    rows: list[dict[str, Any]] = wh.execute(
        s.order_by(ibis.desc("score"), "customer_id").limit(k).select(*SCHEMA.names)
    ).to_pylist()
    for row in rows:
        row["reasons"] = orjson.loads(row["reasons"]) if row["reasons"] else []
    return rows
