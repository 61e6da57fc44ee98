"""The synthetic bank: determinism, integrity, distributions, PII, ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.access.crypto import PiiCipher
from opsloop.access.masking import MASKERS
from opsloop.settings import Settings
from opsloop.synth import GenerateResult, generate_bank
from opsloop.warehouse import Warehouse

SECRET = "test-secret-key-not-for-production-0123456789"
N, MONTHS = 2_000, 3


def _gen(home: Path, seed: int = 7, **kw: object) -> tuple[Settings, GenerateResult]:
    settings = Settings(home=home, secret_key=SECRET)  # type: ignore[arg-type]
    args: dict[str, object] = {"customers": N, "months": MONTHS, "seed": seed, "chunk_size": 1_000}
    args.update(kw)
    return settings, generate_bank(settings=settings, keep_staging=True, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerateResult]:
    return _gen(tmp_path_factory.mktemp("bank") / "home")


def _df(settings: Settings, name: str) -> pd.DataFrame:
    wh = Warehouse.open(settings.warehouse, read_only=True)
    try:
        return wh.execute(wh.table(name)).to_pandas()
    finally:
        wh.close()


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    s1, r1 = _gen(tmp_path / "a", workers=1)
    s2, r2 = _gen(tmp_path / "b", workers=2)
    s3, _ = _gen(tmp_path / "c", seed=8)
    w1, w2, w3 = (Warehouse.open(s.warehouse, read_only=True) for s in (s1, s2, s3))
    try:
        for name in r1.rows:
            assert w1.checksum(name) == w2.checksum(name), name
        assert w1.checksum("customers") != w3.checksum("customers")
        assert w1.checksum("transactions") != w3.checksum("transactions")
    finally:
        for w in (w1, w2, w3):
            w.close()
    assert r1.staging and r2.staging
    files = sorted(p.relative_to(r1.staging) for p in r1.staging.rglob("*.parquet"))
    assert files
    for f in files:
        assert (r1.staging / f).read_bytes() == (r2.staging / f).read_bytes(), f


def test_row_counts_and_integrity(bank: tuple[Settings, GenerateResult]) -> None:
    settings, result = bank
    cust = _df(settings, "customers")
    assert len(cust) == N == result.rows["customers"]
    assert cust.customer_id.is_unique
    ids = set(cust.customer_id)
    for name in ("accounts", "transactions", "events", "aum_monthly", "customer_pii"):
        df = _df(settings, name)
        assert len(df) == result.rows[name]
        assert set(df.customer_id) <= ids, name
    org = _df(settings, "org_units")
    subs = org[org.level == "sub_branch"].set_index("org_id")
    assert set(cust.org_id) <= set(subs.index)
    assert (cust.org_path == subs.loc[cust.org_id, "path"].to_numpy()).all()
    parents = org.set_index("org_id")
    for row in org[org.parent_id.notna()].itertuples():
        assert row.path == parents.loc[row.parent_id, "path"] + row.org_id + "/"
    assert 25 <= (org.level == "branch").sum() <= 35 and (org.level == "sub_branch").sum() >= 200
    rms = _df(settings, "relationship_managers").set_index("rm_id")
    with_rm = cust[cust.rm_id.notna()]
    assert 0.3 < len(with_rm) / N < 0.5
    assert (rms.loc[with_rm.rm_id, "org_id"].to_numpy() == with_rm.org_id.to_numpy()).all()
    acc = _df(settings, "accounts")
    txn = _df(settings, "transactions")
    assert set(txn.account_id) <= set(acc.account_id)
    assert _df(settings, "events").message_id.is_unique
    assert txn.txn_id.is_unique


def test_aum_heavy_tailed(tmp_path: Path) -> None:
    settings, _ = _gen(tmp_path / "h", customers=20_000, months=1, chunk_size=10_000)
    aum = _df(settings, "aum_monthly").aum
    assert aum.mean() > 4 * aum.median()
    assert aum.median() < 50_000
    assert 0 < (aum > 6e6).mean() < 0.01


def test_funnel_decreases(bank: tuple[Settings, GenerateResult]) -> None:
    ev = _df(bank[0], "events").event.value_counts()
    steps = ["app_open", "product_browse", "fund_detail_view", "fund_purchase"]
    counts = [int(ev[s]) for s in steps]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 0


def test_churners_log_in_less_before_churning(tmp_path: Path) -> None:
    settings, _ = _gen(tmp_path / "c", customers=20_000, months=6, chunk_size=10_000)
    truth = Warehouse.open(str(settings.ground_truth_path), read_only=True)
    try:
        ct = truth.execute(truth.table("customer_truth")).to_pandas()
    finally:
        truth.close()
    ev = _df(settings, "events")
    logins = ev[ev.event == "login"].assign(month=lambda d: d.ts.dt.month)
    per = logins.groupby(["customer_id", "month"]).size().unstack(fill_value=0)
    churn = ct.dropna(subset=["churn_month"])
    late = churn[pd.to_datetime(churn.churn_month).dt.month == 6].customer_id
    stay = ct[ct.churn_month.isna()].customer_id
    per = per.reindex(columns=range(1, 7), fill_value=0)
    churners = per.reindex(late, fill_value=0)
    stayers = per.reindex(stay, fill_value=0)
    # Churners log in less than stayers just before leaving, and less than they used to.
    assert churners[5].mean() < 0.6 * stayers[5].mean()
    assert churners[5].mean() < churners[1].mean()
    aum = _df(settings, "aum_monthly")
    out = _df(settings, "transactions").query("kind == 'transfer_out'")
    assert out.customer_id.isin(late).mean() > len(late) / len(ct)
    assert len(aum) > 0


def test_pii_masks_match_decrypted_values(bank: tuple[Settings, GenerateResult]) -> None:
    settings, _ = bank
    cust = _df(settings, "customers").set_index("customer_id")
    pii = _df(settings, "customer_pii").set_index("customer_id").loc[cust.index]
    cipher = PiiCipher.from_secret(SECRET.encode())
    for field in ("name", "phone", "email", "id_number"):
        clear = [cipher.decrypt(field, t) for t in pii[f"{field}_enc"]]
        masked = [MASKERS[field](v) for v in clear]
        assert masked == [None if pd.isna(v) else v for v in cust[f"{field}_masked"]], field
        if field == "phone":
            assert all(len(v) == 11 and v[0] == "1" and v[1] in "3456789" for v in clear)
            assert len(set(clear)) == len(clear)
        if field == "id_number":
            weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
            births = cust.birth_date.astype(str).str.replace("-", "").to_numpy()
            for v, born in zip(clear, births, strict=True):
                assert v is not None and len(v) == 18
                total = sum(int(c) * w for c, w in zip(v[:17], weights, strict=True))
                assert v[17] == "10X98765432"[total % 11]
                assert v[6:14] == born


def test_ground_truth_is_separate(bank: tuple[Settings, GenerateResult]) -> None:
    settings, result = bank
    wh = Warehouse.open(settings.warehouse, read_only=True)
    try:
        tables = set(wh.tables())
    finally:
        wh.close()
    assert not tables & {"customer_truth", "stage_monthly"}
    truth = Warehouse.open(str(settings.ground_truth_path), read_only=True)
    try:
        assert {"customer_truth", "stage_monthly"} <= set(truth.tables())
        ct = truth.execute(truth.table("customer_truth")).to_pandas()
    finally:
        truth.close()
    assert len(ct) == N
    assert (ct.uplift_call < 0).any() and (ct.uplift_push > 0).any()
    assert ct.groupby("segment").uplift_push.mean().std() > 0.01  # heterogeneous by segment
    assert result.truth_rows["stage_monthly"] > 0


def test_store_mirrors_org_and_logs_load(bank: tuple[Settings, GenerateResult]) -> None:
    from sqlalchemy import func, select

    from opsloop.store import Store
    from opsloop.store.models import DatasetLoad, OrgUnit, Product, RelationshipManager

    settings, result = bank
    store = Store.open(settings.database_url)
    try:
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(OrgUnit)) == result.rows["org_units"]
            rms = s.scalar(select(func.count()).select_from(RelationshipManager))
            assert rms == result.rows["relationship_managers"]
            assert s.scalar(select(func.count()).select_from(Product)) == result.rows["products"]
            load = s.scalars(select(DatasetLoad)).one()
            assert load.source == "synth" and load.row_counts["customers"] == N
    finally:
        store.close()


def test_staging_removed_by_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=SECRET)  # type: ignore[arg-type]
    generate_bank(settings=settings, customers=300, months=2, seed=1, workers=1)
    assert not list(settings.home.glob("staging-*"))
    assert np.isfinite(len(_df(settings, "customers")))
