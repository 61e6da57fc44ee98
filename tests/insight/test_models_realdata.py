"""Real data: bank-marketing without call duration, Berka loan default without leakage.

Run with ``pytest tests/insight/test_models_realdata.py -s`` to see the figures
(also ``opsloop model train bank-marketing|berka-default --format json``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop import datasets
from opsloop.insight.models import features as feats
from opsloop.insight.models import train
from opsloop.settings import Settings
from opsloop.warehouse import Warehouse


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    from tests.conftest import DATASETS

    if not DATASETS.is_dir():
        pytest.skip(f"real data sets not found at {DATASETS}")
    home = tmp_path_factory.mktemp("real")
    s = Settings(home=home, secret_key="test-secret-key-not-for-production-0123456789")  # type: ignore[arg-type]
    wh = Warehouse.open(s.warehouse)
    for src in ("bank-marketing", "berka"):
        datasets.load(src, Path(DATASETS) / src, warehouse=wh)
    yield wh
    wh.close()


@pytest.mark.slow
def test_bank_marketing_without_duration(real: Warehouse) -> None:
    report, model = train("bank-marketing", wh=real)
    assert "duration_s" not in model.features and "duration" not in model.features
    holdout = report.metrics["holdout"]
    print("bank-marketing", {k: m.as_dict() for k, m in report.metrics.items()})
    assert holdout.n == 9043
    assert holdout.roc_auc >= 0.75, holdout  # published without duration: about 0.79
    assert holdout.lift_top_decile > 3.0


def test_berka_default_cross_validated(real: Warehouse) -> None:
    report, _ = train("berka-default", wh=real)
    cv = report.metrics["cv"]
    print("berka-default", cv.as_dict())
    assert cv.n == 682 and cv.positives == 76  # status B (31) + D (45)
    assert cv.roc_auc >= 0.65, cv


def test_berka_features_ignore_everything_on_or_after_the_loan_date(real: Warehouse) -> None:
    """Delete every transaction dated on/after its account's loan: features do not move."""
    before = feats.berka_default(real)
    acc, tx = real.table("accounts", dataset="berka"), real.table("transactions", dataset="berka")
    loans = acc.filter(acc.source_table == "loan").select(lb="base_account_id", g="opened_on")
    j = tx.left_join(loans, tx.account_id == loans.lb)
    kept = j.filter(j.g.isnull() | (j.ts < j.g.cast("timestamp"))).drop("lb", "g")
    n_all = real.execute(tx.count().name("n").as_table()).column(0)[0].as_py()
    cut = real.execute(kept)
    assert cut.num_rows < n_all
    names = ["accounts", "customers", "districts"]
    copy: dict[str, pa.Table] = {n: real.execute(real.table(n, dataset="berka")) for n in names}
    copy["transactions"] = cut
    real.replace_tables(copy, dataset="berka_cut")
    after = feats.berka_default(real, dataset="berka_cut")
    cols = [*before.features, "label"]
    assert after.table.select(cols).equals(before.table.select(cols))
