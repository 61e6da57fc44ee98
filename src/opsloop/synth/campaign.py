"""Hidden response to contact, one past randomised campaign, and the ground truth.

Each customer has a base propensity to respond and a per-channel uplift that depends
on their segment; about one in ten are "sleeping dogs" whom any contact puts off.
The warehouse sees only the campaign's assignments, contacts and outcomes; the
uplifts themselves go to the ground-truth file, never to the warehouse.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from opsloop.synth import vocab
from opsloop.synth.ledger import ACTIVITY
from opsloop.synth.population import CHURNED, Population

EXPERIMENT_ID = "EXP-FUND-REACH"
ARMS = ("control", "sms", "push")
SEGMENTS = ("young_digital", "mass", "affluent", "senior", "sleeping_dog")


def uplifts(r: np.random.Generator, p: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment index, base propensity, uplift n × CHANNELS) — the hidden truth."""
    n = len(p.age)
    seg = np.where(p.age >= 60, 3, np.where(p.aum0 >= 5e5, 2, np.where(p.age < 35, 0, 1)))
    seg = np.where(r.random(n) < 0.1, 4, seg)
    base = 1 / (1 + np.exp(-(-3.2 + 0.5 * np.log(p.engagement) + 0.3 * (p.kyc - 3))))
    # Mean uplift (probability points) per segment × channel (sms, push, email, wechat, call, rm).
    mean = np.array(
        [
            [0.005, 0.05, 0.003, 0.03, -0.03, 0.01],  # young_digital: app push works, calls annoy
            [0.02, 0.025, 0.005, 0.02, 0.005, 0.03],  # mass
            [0.01, 0.01, 0.005, 0.015, 0.06, 0.09],  # affluent: RM and calls work
            [0.025, -0.01, 0.0, 0.01, 0.02, 0.04],  # senior: SMS fine, push annoys
            [-0.03, -0.04, -0.01, -0.03, -0.06, -0.04],  # sleeping dogs
        ]
    )
    up = mean[seg] + r.normal(0, 0.01, (n, len(vocab.CHANNELS)))
    return seg, base, np.clip(up, -base[:, None], 1 - base[:, None])


def experiment(
    r: np.random.Generator,
    p: Population,
    base: np.ndarray,
    up: np.ndarray,
    last_month: np.datetime64,
) -> dict[str, pa.Table]:
    """A three-arm campaign in the last month among ~30% of the live customers."""
    live = (p.stage[:, -1] >= 0) & (p.stage[:, -1] != CHURNED)
    (who,) = np.nonzero(live & (r.random(len(live)) < 0.3))
    k = len(who)
    arm = r.integers(0, len(ARMS), k)
    cid = p.customer_id[who]
    t0 = last_month.astype("datetime64[us]").astype(np.int64) + 3 * 86400 * 10**6
    assigned = t0 + r.integers(0, 3600 * 10**6, k)
    ch = np.where(arm == 1, 0, 1)  # sms → CHANNELS[0], push → CHANNELS[1]
    reachable = np.where(arm == 1, p.consent[who, 0], p.consent[who, 1]) & ~p.dnd[who]
    effect = np.where((arm > 0) & reachable, up[who, ch], 0.0)
    act = ACTIVITY[np.maximum(p.stage[who, -1], 0)]
    conv = r.random(k) < np.clip(base[who] * act + effect, 0, 1)
    visit = r.random(k) < np.clip(0.25 * act + 2.5 * effect, 0, 1)
    exp_id = pa.array([EXPERIMENT_ID] * k, pa.string()) if k else pa.array([], pa.string())
    assignments = pa.table(
        {
            "experiment_id": exp_id,
            "customer_id": pa.array(cid, pa.int64()),
            "arm": pa.array(list(ARMS)).take(arm),
            "assigned_at": pa.array(assigned, pa.int64()).cast(pa.timestamp("us")),
        }
    )
    outcomes = pa.table(
        {
            "experiment_id": pa.concat_arrays([exp_id, exp_id]),
            "customer_id": pa.array(np.concatenate([cid, cid]), pa.int64()),
            "metric": pa.array(["conversion"] * k + ["visit"] * k, pa.string()),
            "value": np.concatenate([conv, visit]).astype(np.float64),
        }
    )
    sent = (arm > 0) & reachable
    (ci,) = np.nonzero(sent)
    contacts = pa.table(
        {
            "contact_id": pa.array(cid[ci] * 100 + 1, pa.int64()),
            "customer_id": pa.array(cid[ci], pa.int64()),
            "campaign_id": pa.array([EXPERIMENT_ID] * len(ci), pa.string()),
            "channel": pa.array(list(vocab.CHANNELS)).take(ch[ci]),
            "ts": pa.array(assigned[ci] + 600 * 10**6, pa.int64()).cast(pa.timestamp("us")),
            "attempt": pa.array(np.ones(len(ci), np.int32)),
            "duration_s": pa.nulls(len(ci), pa.float64()),
            "outcome": pa.array(np.where(conv[ci], "success", "failure"), pa.string()),
        }
    )
    return {
        "experiment_assignments": assignments,
        "experiment_outcomes": outcomes,
        "contacts": contacts,
    }


def truth(
    p: Population,
    seg: np.ndarray,
    base: np.ndarray,
    up: np.ndarray,
    churn_month: np.ndarray,
    month_ends: np.ndarray,
) -> dict[str, pa.Table]:
    """Ground-truth tables: per customer, and the true stage per customer-month."""
    cols: dict[str, pa.Array | np.ndarray] = {
        "customer_id": pa.array(p.customer_id, pa.int64()),
        "segment": pa.array(list(SEGMENTS)).take(seg),
        "churn_month": pa.array(churn_month, pa.date32()),
        "churn_risk": p.risk,
        "engagement": p.engagement,
        "response_propensity": base,
    }
    for j, c in enumerate(vocab.CHANNELS):
        cols[f"uplift_{c}"] = up[:, j]
    ci, mi = np.nonzero(p.stage >= 0)
    stages = pa.table(
        {
            "customer_id": pa.array(p.customer_id[ci], pa.int64()),
            "month": pa.array(month_ends[mi], pa.date32()),
            "stage": pa.array(list(vocab.STAGES)).take(p.stage[ci, mi]),
        }
    )
    return {"customer_truth": pa.table(cols), "stage_monthly": stages}
