"""Kevin Hillstrom's MineThatData e-mail experiment (2008): a real randomised trial.

64,000 customers, three arms (Mens E-Mail, Womens E-Mail, No E-Mail = control) and
their two-week outcomes. It becomes customers, one experiment's assignments and
per-customer outcomes, so A/B statistics, uplift models and ROI run on real data.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.datasets import common
from opsloop.datasets.parse import codes, floats, ints, read_delimited, strings

SOURCE = "hillstrom"
FILE = "hillstrom.csv"
EXPERIMENT_ID = "hillstrom-2008"
CONTROL_ARM = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail", CONTROL_ARM)
METRICS = ("visit", "conversion", "spend")
# The file carries no dates: a nominal as-of date (the challenge was published in
# spring 2008) anchors ``opened_on``.
AS_OF = date(2008, 3, 1)
COLUMNS = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)
_FLAG = {"0": False, "1": True}


def resolve(path: Path) -> Path:
    return path / FILE if path.is_dir() else path


def build(path: Path) -> common.Tables:
    """Parse and validate ``hillstrom.csv`` (a folder holding it, or the file)."""
    raw = read_delimited(resolve(path), COLUMNS, delimiter=",")
    n = raw.num_rows
    recency = ints(raw, "recency")
    newbie = codes(raw, "newbie", _FLAG, pa.bool_())
    arm = codes(raw, "segment", {a: a for a in ARMS}, pa.string())
    outcomes = {
        "visit": codes(raw, "visit", {"0": 0.0, "1": 1.0}, pa.float64()),
        "conversion": codes(raw, "conversion", {"0": 0.0, "1": 1.0}, pa.float64()),
        "spend": floats(raw, "spend"),
    }
    ids = pa.array(np.arange(1, n + 1, dtype=np.int64))
    org = common.single_branch_tree("Hillstrom")
    customers = common.customers(
        n,
        customer_id=ids,
        org=org[-1],
        opened_on=_opened_on(recency, newbie),
        source=SOURCE,
        consents=("email",),
        extras={
            "recency": recency,
            "history_segment": strings(raw, "history_segment", nullable=False),
            "history": floats(raw, "history"),
            "mens": codes(raw, "mens", _FLAG, pa.bool_()),
            "womens": codes(raw, "womens", _FLAG, pa.bool_()),
            "zip_code": strings(raw, "zip_code", nullable=False),
            "newbie": newbie,
            "channel": strings(raw, "channel", nullable=False),
        },
    )
    assignments = pa.table(
        {
            "experiment_id": common.constant(EXPERIMENT_ID, n, pa.string()),
            "customer_id": ids,
            "arm": arm,
            "assigned_at": pa.nulls(n, pa.timestamp("us")),
        }
    )
    return {
        "org_units": common.org_table(org),
        "customers": customers,
        "experiment_assignments": assignments,
        "experiment_outcomes": _outcomes(ids, outcomes),
        "contacts": _emails(ids, arm),
        "experiments": pa.table(
            {
                "experiment_id": [EXPERIMENT_ID],
                "control_arm": [CONTROL_ARM],
                "arms": [list(ARMS)],
                "description": ["MineThatData e-mail challenge: two-week outcomes per arm"],
            }
        ),
    }


def _opened_on(recency: pa.Array, newbie: pa.Array) -> pa.Array:
    """Latest start date consistent with the file: a newbie bought ``recency`` months ago,
    anyone else has been a customer for more than twelve months."""
    months = np.where(np.asarray(newbie), np.asarray(recency), 12)
    starts = {m: common.add_months(AS_OF, -int(m)) for m in np.unique(months)}
    return pa.array([starts[m] for m in months], pa.date32())


def _outcomes(ids: pa.Array, outcomes: dict[str, pa.Array]) -> pa.Table:
    """Long format, one row per customer × metric (the canonical experiment_outcomes)."""
    n = len(ids)
    k = len(METRICS)
    id_np = np.repeat(np.asarray(ids), k)
    values = np.column_stack([np.asarray(outcomes[m]) for m in METRICS]).reshape(-1)
    return pa.table(
        {
            "experiment_id": common.constant(EXPERIMENT_ID, n * k, pa.string()),
            "customer_id": pa.array(id_np),
            "metric": pa.array(np.tile(np.array(METRICS, dtype=object), n), pa.string()),
            "value": pa.array(values, pa.float64()),
        }
    )


def _emails(ids: pa.Array, arm: pa.Array) -> pa.Table:
    """The e-mails the two treatment arms received, as contact history (no send time known)."""
    sent = pc.not_equal(arm, CONTROL_ARM)
    who = pc.filter(ids, sent)
    n = len(who)
    return pa.table(
        {
            "contact_id": who,
            "customer_id": who,
            "campaign_id": common.constant(EXPERIMENT_ID, n, pa.string()),
            "channel": common.constant("email", n, pa.string()),
            "ts": pa.nulls(n, pa.timestamp("us")),
            "attempt": common.constant(1, n, pa.int32()),
            "duration_s": pa.nulls(n, pa.float64()),
            "outcome": pa.nulls(n, pa.string()),
            "arm": pc.filter(arm, sent),
        }
    )
