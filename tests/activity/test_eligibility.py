"""Eligibility from Insight segments and the warehouse's KYC level, against pandas.

Segments are real Insight segments (uploaded id lists, materialised into
``segment_members``); the oracle is a pandas brute force over the same bank. The cache
is per activity version and follows re-materialisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insight.conftest import make_bank
from opsloop.access.principal import Principal
from opsloop.activity import eligibility
from opsloop.activity.benefits import Eligibility
from opsloop.activity.eligibility import Audience
from opsloop.errors import ConflictError, ForbiddenError
from opsloop.insight.segments import materialise as mat
from opsloop.store import Store
from opsloop.warehouse import Warehouse

N = 200
PERMS = frozenset({"segment:read", "segment:write", "segment:export", "customer:read"})
HEAD = Principal(id="head", kind="user", org_path="/HO/", permissions=PERMS)


@pytest.fixture(scope="module")
def bank() -> dict[str, pa.Table]:
    return make_bank(n=N, seed=5)


@pytest.fixture(scope="module")
def wh(bank: dict[str, pa.Table]) -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    w.replace_tables(bank)
    yield w
    w.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path_factory.mktemp('elig') / 's.db'}")
    yield s
    s.close()


def _upload(store: Store, wh: Warehouse, sid: str, ids: set[int]) -> None:
    data = ("customer_id\n" + "\n".join(str(i) for i in sorted(ids))).encode()
    mat.upload(store, wh, principal=HEAD, segment_id=sid, name=sid, data=data)


def _eligible(aud: Audience, e: Eligibility, cid: int, version: int = 1) -> str | None:
    try:
        eligibility.check(
            e, audience=aud, activity_id="a1", version=version, customer_id=cid, channel="app"
        )
    except ForbiddenError as exc:
        return exc.where
    return None


_COUNTER = iter(range(10**9))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seg_a=st.sets(st.integers(1, N), min_size=1, max_size=60),
    seg_b=st.sets(st.integers(1, N), min_size=1, max_size=60),
    levels=st.sets(st.integers(1, 5), max_size=4),
)
def test_eligible_customers_equal_a_pandas_brute_force(
    store: Store,
    wh: Warehouse,
    bank: dict[str, pa.Table],
    seg_a: set[int],
    seg_b: set[int],
    levels: set[int],
) -> None:
    k = next(_COUNTER)
    a, b = f"ea{k}", f"eb{k}"
    _upload(store, wh, a, seg_a)
    _upload(store, wh, b, seg_b)
    e = Eligibility(segment_ids=(a, b), kyc_risk_levels=tuple(sorted(levels)))
    aud = Audience(store, wh)
    got = {cid for cid in range(1, N + 1) if _eligible(aud, e, cid) is None}
    df = bank["customers"].to_pandas()
    in_kyc = df.kyc_risk_level.isin(levels) if levels else pd.Series(True, index=df.index)
    oracle = set(df.customer_id[in_kyc & df.customer_id.isin(seg_a | seg_b)].astype(int))
    assert got == oracle
    if levels:  # the refusal names the rule that refused
        low = df.customer_id[~df.kyc_risk_level.isin(levels)].astype(int)
        assert all(_eligible(aud, e, int(c)) == "kyc_risk_level" for c in low[:5])
    outside = sorted(set(range(1, N + 1)) - seg_a - seg_b)[:5]
    kyc_ok = set(df.customer_id[in_kyc].astype(int))
    assert all(_eligible(aud, e, c) == "segment_ids" for c in outside if c in kyc_ok)


def test_cache_follows_rematerialisation_and_version(store: Store, wh: Warehouse) -> None:
    now = [0.0]
    aud = Audience(store, wh, check_seconds=5.0, clock=lambda: now[0])
    _upload(store, wh, "vip", {1, 2, 3})
    e = Eligibility(segment_ids=("vip",))
    assert [_eligible(aud, e, c) for c in (1, 4)] == [None, "segment_ids"]
    loads = aud.loads
    now[0] = 10.0  # due for a check, nothing re-materialised: no reload of the members
    assert _eligible(aud, e, 1) is None and aud.loads == loads
    _upload(store, wh, "vip", {4})  # a new snapshot
    assert _eligible(aud, e, 4) == "segment_ids"  # still within check_seconds
    now[0] = 16.0
    assert [_eligible(aud, e, c) for c in (1, 4)] == ["segment_ids", None]
    assert aud.loads == loads + 1
    # another version of the activity loads its own sets (and drops the old version's)
    assert _eligible(aud, e, 4, version=2) is None and aud.loads == loads + 2


def test_never_materialised_admits_nobody_and_no_warehouse_is_a_clear_error(
    store: Store, wh: Warehouse
) -> None:
    from opsloop.insight.segments import store as segstore

    segstore.create(
        store,
        principal=HEAD,
        doc={
            "id": "fresh",
            "name": "fresh",
            "root": {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 1},
        },
    )
    e = Eligibility(segment_ids=("fresh",))
    assert _eligible(Audience(store, wh), e, 1) == "segment_ids"
    with pytest.raises(ConflictError) as exc:
        eligibility.check(
            e, audience=None, activity_id="a1", version=1, customer_id=1, channel=None
        )
    assert exc.value.where == "eligibility"
    ch = Eligibility(channels=("app",))
    with pytest.raises(ForbiddenError) as exc2:
        eligibility.check(
            ch, audience=None, activity_id="a1", version=1, customer_id=1, channel="sms"
        )
    assert exc2.value.where == "channel"


def test_participation_reads_eligibility_from_insight(
    home: Path, store: Store, wh: Warehouse
) -> None:
    """Through the service: a customer outside the activity's segment is refused."""
    from opsloop.activity import service
    from opsloop.activity.counters import SqlCounters
    from opsloop.activity.risk import ListCache, SqlWindows

    from .helpers import coupon

    _upload(store, wh, "gold", {7, 8})
    ops = Principal("m", "user", permissions=frozenset({"*"}))
    chk = Principal("c", "user", permissions=frozenset({"*"}))
    service.create_benefit(store=store, actor=ops, doc=coupon("elig1").model_dump(mode="json"))
    act = service.create_activity(
        store=store,
        actor=ops,
        doc={
            "name": "gold only",
            "template": {"kind": "coupon_drop", "benefit_id": "elig1"},
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "landing": {"title": "x"},
            "eligibility": {"segment_ids": ["gold"]},
        },
    )
    for who, action in ((ops, "submit"), (chk, "approve"), (ops, "start")):
        service.transition(store=store, actor=who, activity_id=act["id"], action=action)
    rt = service.Runtime(
        store, SqlCounters(), SqlWindows(store), ListCache(store), audience=Audience(store, wh)
    )
    ok = service.participate(rt=rt, activity_id=act["id"], req=service.Request(customer_id=7))
    assert ok.outcome == "issued"
    with pytest.raises(ForbiddenError) as exc:
        service.participate(rt=rt, activity_id=act["id"], req=service.Request(customer_id=9))
    assert exc.value.where == "segment_ids"
