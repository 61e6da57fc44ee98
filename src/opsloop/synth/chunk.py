"""One chunk of customers → one Parquet file per table in the staging directory.

A chunk is self-contained (its customers' accounts, balances, transactions, events,
campaign rows and truth), so chunks run in any order or process and memory stays
bounded by the chunk size, not the bank's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.access.crypto import PiiCipher
from opsloop.synth import behaviour, campaign, ledger, vocab
from opsloop.synth.org import Bank, build_bank
from opsloop.synth.pii import encrypt_pii, make_pii
from opsloop.synth.population import CHURNED, make_population
from opsloop.synth.rng import rng
from opsloop.warehouse.schema import TABLES_BY_NAME

TRUTH_TABLES = ("customer_truth", "stage_monthly")


@dataclass(frozen=True)
class ChunkSpec:
    """Everything a worker needs (picklable): the bank's parameters and where to write."""

    seed: int
    customers: int
    months: int
    start: str  # "YYYY-MM"
    chunk_size: int
    staging: Path
    secret: bytes


_BANKS: dict[tuple[int, int], Bank] = {}


def _bank(spec: ChunkSpec) -> Bank:
    key = (spec.seed, spec.customers)
    if key not in _BANKS:
        _BANKS[key] = build_bank(spec.seed, spec.customers)
    return _BANKS[key]


def _write(spec: ChunkSpec, name: str, index: int, table: pa.Table) -> None:
    if name in TABLES_BY_NAME:
        table = table.select(list(TABLES_BY_NAME[name].column_names))
    folder = spec.staging / name
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"part-{index:05d}.parquet", compression="snappy")


def run_chunk(spec: ChunkSpec, index: int) -> dict[str, int]:
    """Generate chunk ``index`` and write its files; returns rows written per table."""
    bank = _bank(spec)
    first = index * spec.chunk_size + 1
    n = min(spec.chunk_size, spec.customers - index * spec.chunk_size)
    start = np.datetime64(spec.start, "M")
    month_starts = np.arange(start, start + spec.months)
    month_ends = (month_starts + 1).astype("datetime64[D]") - 1
    month_days = (
        (month_starts + 1).astype("datetime64[D]") - month_starts.astype("datetime64[D]")
    ).astype(np.int64)
    pop = make_population(rng(spec.seed, "customers", index), bank, first, n, start, spec.months)

    churned = pop.stage == CHURNED
    has_churn = churned.any(axis=1)
    churn_m = np.argmax(churned, axis=1)
    churn_month = np.where(has_churn, month_ends[churn_m], np.datetime64("NaT"))
    r_misc = rng(spec.seed, "misc", index)
    churn_day = month_starts[churn_m].astype("datetime64[D]") + r_misc.integers(0, 28, n).astype(
        "timedelta64[D]"
    )
    churn_date = np.where(has_churn, churn_day, np.datetime64("NaT"))
    platform = r_misc.choice(len(vocab.PLATFORMS), n, p=[0.55, 0.35, 0.07, 0.03])

    pii = make_pii(
        rng(spec.seed, "pii", index),
        pop.customer_id,
        pop.female,
        pop.birth_date,
        pop.city,
        spec.seed,
    )
    rows: dict[str, int] = {}

    def out(name: str, table: pa.Table) -> None:
        _write(spec, name, index, table)
        rows[name] = table.num_rows

    out("customers", _customers(bank, pop, pii, has_churn))
    out("customer_pii", encrypt_pii(PiiCipher.from_secret(spec.secret), pop.customer_id, pii))
    out("accounts", ledger.accounts(pop, churn_date, start))
    aum_table, aum = ledger.balances(rng(spec.seed, "aum_monthly", index), pop, month_ends)
    out("aum_monthly", aum_table)
    del aum_table
    out(
        "transactions",
        ledger.transactions(
            rng(spec.seed, "transactions", index), pop, aum, month_starts, month_days
        ),
    )
    out(
        "events",
        behaviour.events(
            rng(spec.seed, "events", index), pop, platform, month_starts, month_days, spec.seed
        ),
    )
    seg, base, up = campaign.uplifts(rng(spec.seed, "uplift", index), pop)
    exp = campaign.experiment(rng(spec.seed, "experiment", index), pop, base, up, month_starts[-1])
    for name, table in exp.items():
        out(name, table)
    for name, table in campaign.truth(pop, seg, base, up, churn_month, month_ends).items():
        out(name, table)
    return rows


def _customers(bank: Bank, p: object, pii: dict[str, pa.Array], churned: np.ndarray) -> pa.Table:
    from opsloop.synth.population import Population

    assert isinstance(p, Population)
    n = len(p.customer_id)
    rm_ids = bank.rm_ids.astype(str)
    rm = pa.array(np.where(p.rm >= 0, rm_ids[np.maximum(p.rm, 0)], None), pa.string())
    return pa.table(
        {
            "customer_id": pa.array(p.customer_id, pa.int64()),
            "org_id": pa.array(bank.sub_ids.astype(str)).take(p.sub),
            "org_path": pa.array(bank.sub_paths.astype(str)).take(p.sub),
            "rm_id": rm,
            "gender": pa.array(["M", "F"]).take(p.female.astype(np.int8)),
            "birth_date": pa.array(p.birth_date, pa.date32()),
            "occupation": pa.array(list(vocab.OCCUPATIONS)).take(p.occupation),
            "education": pa.array(list(vocab.EDUCATIONS)).take(p.education),
            "marital": pa.array(list(vocab.MARITAL)).take(p.marital),
            "income_monthly": pa.array(p.income, pa.float64()),
            "city": pa.array([c[0] for c in vocab.CITIES]).take(p.city),
            "kyc_risk_level": pa.array(p.kyc.astype(np.int16)),
            "opened_on": pa.array(p.opened_on, pa.date32()),
            "acquisition_channel": pa.array(list(vocab.ACQ_CHANNELS)).take(p.acq),
            "is_active": pa.array(~churned),
            "consent_sms": pa.array(p.consent[:, 0]),
            "consent_push": pa.array(p.consent[:, 1]),
            "consent_email": pa.array(
                p.consent[:, 2] & pii["email"].is_valid().to_numpy(zero_copy_only=False)
            ),
            "consent_wechat": pa.array(p.consent[:, 3]),
            "consent_call": pa.array(p.consent[:, 4]),
            "dnd": pa.array(p.dnd),
            "name_masked": pii["name_masked"],
            "phone_masked": pii["phone_masked"],
            "email_masked": pii["email_masked"],
            "id_number_masked": pii["id_number_masked"],
            "source": pa.array(["synth"] * n, pa.string()),
        }
    )
