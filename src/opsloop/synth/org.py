"""The bank's shape: org tree, relationship managers, product shelf (one per bank).

Big-city branches get more sub-branches and a larger share of customers, so branch
sizes are skewed the way a national retail bank's are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from opsloop.synth import vocab
from opsloop.synth.rng import rng


@dataclass(frozen=True)
class Bank:
    """Org tree, RMs and products, plus the lookup arrays chunks need."""

    org_units: pa.Table
    relationship_managers: pa.Table
    products: pa.Table
    sub_ids: np.ndarray  # org_id of each sub-branch (object array of str)
    sub_paths: np.ndarray  # path of each sub-branch
    sub_city: np.ndarray  # city index of each sub-branch
    sub_weight: np.ndarray  # probability a new customer is homed there
    rm_ids: np.ndarray  # rm_id of each RM, grouped by sub-branch
    rm_offset: np.ndarray  # first RM index of each sub-branch
    rm_count: np.ndarray  # number of RMs of each sub-branch


def build_bank(seed: int, n_customers: int) -> Bank:
    """Build the org tree (HO, ~30 branches, ~300 sub-branches), RMs and products."""
    r = rng(seed, "org")
    w = np.array([c[4] for c in vocab.CITIES])
    size = (w - w.min()) / (w.max() - w.min())
    n_sub = np.minimum(7 + np.round(9 * size) + r.integers(0, 4, len(w)), len(vocab.PLACES))
    rows: list[tuple[str, str | None, str, str, str, str, str]] = [
        ("HO", None, "head_office", "总行", "Head Office", "北京", "/HO/")
    ]
    sub_ids: list[str] = []
    sub_paths: list[str] = []
    sub_city: list[int] = []
    sub_weight: list[float] = []
    for b, (city, _py, city_en, _area, weight) in enumerate(vocab.CITIES):
        bid = f"B{b + 1:02d}"
        bpath = f"/HO/{bid}/"
        rows.append((bid, "HO", "branch", f"{city}分行", f"{city_en} Branch", city, bpath))
        places = r.permutation(len(vocab.PLACES))[: int(n_sub[b])]
        # Within a branch a few flagship sub-branches are much larger (Zipf-like).
        inner = 1.0 / np.arange(1, int(n_sub[b]) + 1) ** 0.8
        inner = inner / inner.sum()
        for s, p in enumerate(places):
            sid = f"{bid}S{s + 1:02d}"
            place, place_en = vocab.PLACES[p]
            path = f"{bpath}{sid}/"
            en = f"{city_en} {place_en} Sub-branch"
            rows.append((sid, bid, "sub_branch", f"{city}{place}支行", en, city, path))
            sub_ids.append(sid)
            sub_paths.append(path)
            sub_city.append(b)
            sub_weight.append(float(weight * inner[s]))
    cols = ("org_id", "parent_id", "level", "name", "name_en", "city", "path")
    org_units = pa.table({c: [row[i] for row in rows] for i, c in enumerate(cols)})
    sw = np.array(sub_weight)
    sw = sw / sw.sum()
    # About one RM per 1,500 customers, at least two per sub-branch.
    rm_count = np.maximum(2, np.round(sw * max(n_customers, 1) / 1500)).astype(np.int64)
    rm_offset = np.concatenate([[0], np.cumsum(rm_count)[:-1]])
    n_rm = int(rm_count.sum())
    rm_ids = np.array([f"RM{i + 1:06d}" for i in range(n_rm)], dtype=object)
    rm_sub = np.repeat(np.arange(len(sub_ids)), rm_count)
    sn = r.choice(len(vocab.SURNAMES), n_rm)
    gn = r.choice(len(vocab.GIVEN_M), n_rm)
    female = r.random(n_rm) < 0.55
    rm_names = [
        vocab.SURNAMES[s][0] + (vocab.GIVEN_F if f else vocab.GIVEN_M)[g][0]
        for s, g, f in zip(sn, gn, female, strict=True)
    ]
    hired = np.datetime64("2024-12-31") - r.integers(30, 365 * 20, n_rm).astype("timedelta64[D]")
    relationship_managers = pa.table(
        {
            "rm_id": rm_ids.astype(str),
            "org_id": np.array(sub_ids)[rm_sub],
            "org_path": np.array(sub_paths)[rm_sub],
            "name": rm_names,
            "hired_on": pa.array(hired, pa.date32()),
        }
    )
    products = pa.table(
        {
            "product_id": [p[0] for p in vocab.PRODUCTS],
            "category": [p[1] for p in vocab.PRODUCTS],
            "name": [p[2] for p in vocab.PRODUCTS],
            "name_en": [p[3] for p in vocab.PRODUCTS],
            "risk_level": pa.array([p[4] for p in vocab.PRODUCTS], pa.int16()),
            "annual_rate": [p[5] for p in vocab.PRODUCTS],
            "min_amount": [p[6] for p in vocab.PRODUCTS],
        }
    )
    return Bank(
        org_units=org_units,
        relationship_managers=relationship_managers,
        products=products,
        sub_ids=np.array(sub_ids, dtype=object),
        sub_paths=np.array(sub_paths, dtype=object),
        sub_city=np.array(sub_city, dtype=np.int64),
        sub_weight=sw,
        rm_ids=rm_ids,
        rm_offset=rm_offset,
        rm_count=rm_count,
    )
