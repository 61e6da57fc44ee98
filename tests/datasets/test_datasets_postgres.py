"""The same loaders into a PostgreSQL warehouse (the production profile)."""

from __future__ import annotations

import pytest
from tests.datasets.realdata import shared_datasets

from opsloop.datasets import load
from opsloop.warehouse import Warehouse


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.realdata
def test_load_into_postgres(pg_url: str) -> None:
    root = shared_datasets()
    wh = Warehouse.open(pg_url)
    try:
        for source, folder, customers in (
            ("hillstrom", "hillstrom", 64000),
            ("bank-marketing", "bank-marketing", 45211),
            ("berka", "berka", 5369),
        ):
            result = load(source, root / folder, warehouse=wh)
            n = wh.sql("select count(*) as n from customers", dataset=result.dataset)["n"][0]
            assert n.as_py() == customers
    finally:
        wh.close()
