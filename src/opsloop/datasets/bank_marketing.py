"""UCI Bank Marketing (Moro, Cortez, Rita 2014), bank-full: real telemarketing calls.

Each of the 45,211 rows is one client's last call of a campaign and whether they then
subscribed a term deposit. It becomes customers, contact history and campaign outcomes,
so response models and contact analyses run on a real bank's calls.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.datasets import common
from opsloop.datasets.parse import RawFile, codes, floats, ints, read_delimited, strings

SOURCE = "bank-marketing"
FILE = "bank-full.csv"
CAMPAIGN_ID = "bank-marketing"
FIRST_YEAR = 2008  # UCI: the rows are ordered by date, from May 2008 to November 2010
COLUMNS = (
    "age",
    "job",
    "marital",
    "education",
    "has_credit",
    "balance",
    "has_housing",
    "has_loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "deposit",
)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_YES_NO = {"yes": True, "no": False}


def resolve(path: Path) -> Path:
    return path / FILE if path.is_dir() else path


def build(path: Path) -> common.Tables:
    """Parse and validate ``bank-full.csv`` (a folder holding it, or the file)."""
    raw = read_delimited(resolve(path), COLUMNS, delimiter=",")
    n = raw.num_rows
    ids = pa.array(np.arange(1, n + 1, dtype=np.int64))
    contacted = contact_dates(raw)
    deposit = codes(raw, "deposit", _YES_NO, pa.bool_())
    campaign = ints(raw, "campaign")
    org = common.single_branch_tree("Bank Marketing")
    customers = common.customers(
        n,
        customer_id=ids,
        org=org[-1],
        opened_on=contacted,
        source=SOURCE,
        consents=("call",),
        known={
            "occupation": _known(raw, "job"),
            "marital": _known(raw, "marital"),
            "education": _known(raw, "education"),
        },
        extras={
            "age": ints(raw, "age"),
            "balance": floats(raw, "balance"),
            "has_credit": codes(raw, "has_credit", _YES_NO, pa.bool_()),
            "has_housing": codes(raw, "has_housing", _YES_NO, pa.bool_()),
            "has_loan": codes(raw, "has_loan", _YES_NO, pa.bool_()),
            "deposit": deposit,
        },
    )
    pdays = ints(raw, "pdays")
    contacts = pa.table(
        {
            "contact_id": ids,
            "customer_id": ids,
            "campaign_id": common.constant(CAMPAIGN_ID, n, pa.string()),
            "channel": common.constant("call", n, pa.string()),
            "ts": pc.cast(contacted, pa.timestamp("us")),
            "attempt": pc.cast(campaign, pa.int32()),
            "duration_s": pc.cast(ints(raw, "duration"), pa.float64()),
            "outcome": pc.if_else(deposit, "yes", "no"),
            "contact_type": codes(
                raw,
                "contact",
                {"cellular": "cellular", "telephone": "telephone", "unknown": None},
                pa.string(),
            ),
            "campaign": campaign,
            "pdays": pc.if_else(pc.equal(pdays, -1), pa.scalar(None, pa.int64()), pdays),
            "previous": ints(raw, "previous"),
            "poutcome": strings(raw, "poutcome", nullable=False),
        }
    )
    outcomes = pa.table(
        {
            "customer_id": ids,
            "campaign_id": common.constant(CAMPAIGN_ID, n, pa.string()),
            "deposit": deposit,
        }
    )
    return {
        "org_units": common.org_table(org),
        "customers": customers,
        "contacts": contacts,
        "campaign_outcomes": outcomes,
    }


def _known(raw: RawFile, column: str) -> pa.Array:
    """The value, or null where the source says ``unknown``."""
    text = strings(raw, column, nullable=False)
    return pc.if_else(pc.equal(text, "unknown"), pa.scalar(None, pa.string()), text)


def contact_dates(raw: RawFile) -> pa.Array:
    """Dates of the calls: the file has day and month only, so the year is inferred.

    The rows are in date order (UCI documentation) starting in May 2008, so the year
    goes up by one each time (month, day) steps backwards from one row to the next.
    """
    month = pc.add(codes(raw, "month", {m: i for i, m in enumerate(MONTHS)}, pa.int64()), 1)
    day = ints(raw, "day")
    m = np.asarray(month)
    d = np.asarray(day)
    key = m * 100 + d
    year = FIRST_YEAR + np.concatenate([[0], np.cumsum(key[1:] < key[:-1])])
    out: list[date] = []
    for i, (y, mm, dd) in enumerate(zip(year.tolist(), m.tolist(), d.tolist(), strict=True)):
        try:
            out.append(date(y, mm, dd))
        except ValueError:
            raise raw.fail(i, "day", f"{dd} {MONTHS[mm - 1]} {y} is not a date") from None
    return pa.array(out, pa.date32())
