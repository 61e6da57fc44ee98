"""Decision-tree insight: each leaf, compiled as a segment, counts exactly the leaf."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from opsloop.access.principal import Principal
from opsloop.insight.segments import compile_segment, validate_segment
from opsloop.insight.segments.model import And, Behaviour, EventStep, SegmentDefinition
from opsloop.insight.tree import tree_insight
from opsloop.settings import Settings
from opsloop.synth import generate_bank
from opsloop.warehouse import Warehouse

AS_OF = dt.date(2025, 3, 31)
TARGET = SegmentDefinition(
    name="bought a fund",
    root=Behaviour(step=EventStep(event="fund_purchase"), count=1, last_days=90),
)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    home = tmp_path_factory.mktemp("tree")
    s = Settings(home=home, secret_key="test-secret-key-not-for-production-0123456789")  # type: ignore[arg-type]
    generate_bank(settings=s, customers=3000, months=3, seed=5, workers=1)
    wh = Warehouse.open(s.warehouse)
    yield wh
    wh.close()


def _count(wh: Warehouse, defn: SegmentDefinition, principal: Principal | None = None) -> int:
    tables = {n: wh.table(n) for n in ("customers", "transactions", "events")}
    expr = compile_segment(defn, wh_tables=tables, as_of=AS_OF, principal=principal)
    return int(wh.execute(expr.count().name("n").as_table()).column(0)[0].as_py())


@pytest.mark.parametrize("depth", [1, 3])
def test_leaf_segments_count_the_leaf(bank: Warehouse, depth: int) -> None:
    out = tree_insight(wh=bank, target=TARGET, as_of=AS_OF, max_depth=depth, min_leaf=40)
    assert 2 <= len(out.leaves) <= 2**depth
    assert sum(leaf.size for leaf in out.leaves) == out.population
    assert sum(leaf.positives for leaf in out.leaves) == out.positives == _count(bank, TARGET)
    for leaf in out.leaves:
        saved = validate_segment(leaf.segment.model_dump(mode="json"))  # a valid document
        assert _count(bank, saved) == leaf.size
        both = SegmentDefinition(name="x", root=And(children=(saved.root, TARGET.root)))
        assert _count(bank, both) == leaf.positives
    rates = [leaf.rate for leaf in out.leaves]
    assert rates == sorted(rates, reverse=True)
    assert rates[0] > out.positives / out.population  # the best leaf beats the base rate


def test_branch_scope_limits_the_population(bank: Warehouse) -> None:
    cust = bank.execute(bank.table("customers").select("org_path")).column(0).to_pylist()
    branch = cust[0].split("/")[2]
    local = Principal(id="b", kind="user", org_path=f"/HO/{branch}/")
    out = tree_insight(
        wh=bank, target=TARGET, as_of=AS_OF, principal=local, max_depth=2, min_leaf=20
    )
    for leaf in out.leaves:
        assert _count(bank, leaf.segment, local) == leaf.size
    assert 0 < out.population < len(cust)
