"""The segment store: versions, owners, sharing (客群共享), snapshots, refresh, export, upload.

Counts are checked three ways: the materialised snapshot, the preview, and a pandas
brute force over the same generated bank.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from opsloop.access.models import AuditEntry
from opsloop.access.principal import Principal
from opsloop.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from opsloop.insight.segments import SegmentValidationError
from opsloop.insight.segments import materialise as mat
from opsloop.insight.segments import store as segstore
from opsloop.insight.segments.service import preview
from opsloop.store import Store
from opsloop.warehouse import Warehouse

from .conftest import AS_OF, END, make_bank

PERMS = frozenset({"segment:read", "segment:write", "segment:export", "customer:read"})
HEAD = Principal(id="head", kind="user", org_path="/HO/", permissions=PERMS)
B01 = Principal(id="b01", kind="user", org_path="/HO/B01/", permissions=PERMS)
B02 = Principal(id="b02", kind="user", org_path="/HO/B02/", permissions=PERMS)
RICH = {
    "id": "rich",
    "name": "rich and active",
    "root": {
        "kind": "and",
        "children": [
            {"kind": "attribute", "field": "income_monthly", "op": ">", "value": 6000},
            {
                "kind": "behaviour",
                "step": {"event": "app_open"},
                "op": ">=",
                "count": 1,
                "last_days": 30,
            },
        ],
    },
}


@pytest.fixture(scope="module")
def bank() -> dict[str, pa.Table]:
    return make_bank(n=300, seed=23)


@pytest.fixture(scope="module")
def wh(bank: dict[str, pa.Table]) -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    w.replace_tables(bank)
    yield w
    w.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path_factory.mktemp('segstore') / 's.db'}")
    yield s
    s.close()


def _doc(sid: str, base: dict[str, Any] = RICH) -> dict[str, Any]:
    return base | {"id": sid}


def _oracle(bank: dict[str, pa.Table], prefix: str = "/HO/") -> set[int]:
    """Pandas brute force of RICH: income > 6000 and ≥ 1 app_open in [END-30d, END)."""
    c = bank["customers"].to_pandas()
    e = bank["events"].to_pandas()
    e = e[(e.event == "app_open") & (e.ts >= END - dt.timedelta(days=30)) & (e.ts < END)]
    active = set(e.customer_id.dropna().astype(int))
    ok = c[(c.income_monthly > 6000) & c.org_path.str.startswith(prefix)]
    return {int(i) for i in ok.customer_id if int(i) in active}


def _actions(store: Store, target: str) -> list[str]:
    with store.session() as s:
        q = select(AuditEntry.action).where(AuditEntry.target_id == target).order_by(AuditEntry.id)
        return list(s.scalars(q))


def test_create_versions_and_audit(store: Store) -> None:
    seg = segstore.create(store, principal=HEAD, doc=_doc("v1"), refresh_cron="0 6 * * *")
    assert (seg.version, seg.owner, seg.org_path, seg.kind) == (1, "head", "/HO/", "rule")
    changed = _doc("v1") | {"name": "renamed"}
    seg2 = segstore.update(store, principal=HEAD, segment_id="v1", doc=changed)
    assert (seg2.version, seg2.name) == (2, "renamed")
    old = segstore.get(store, segment_id="v1", principal=HEAD, version=1)
    assert old.definition.name == "rich and active" and old.version == 1
    with pytest.raises(ConflictError):
        segstore.create(store, principal=HEAD, doc=_doc("v1"))
    assert _actions(store, "v1") == ["segment.create", "segment.update"]


def test_invalid_document_names_the_node(store: Store) -> None:
    bad = _doc("bad")
    bad["root"] = {"kind": "and", "children": [{"kind": "attribute", "field": "nope", "op": "="}]}
    with pytest.raises(SegmentValidationError) as exc:
        segstore.create(store, principal=HEAD, doc=bad)
    assert exc.value.where == "root.children[0].field"
    with pytest.raises(InvalidInputError) as cron:
        segstore.create(store, principal=HEAD, doc=_doc("badcron"), refresh_cron="61 * * * *")
    assert cron.value.where == "refresh_cron"
    with pytest.raises(NotFoundError):
        segstore.get(store, segment_id="bad", principal=HEAD)


def test_visibility_sharing_and_edit_rights(store: Store) -> None:
    segstore.create(store, principal=HEAD, doc=_doc("ho-only"))
    segstore.create(store, principal=B01, doc=_doc("b01-own"))
    assert "ho-only" not in {s.segment_id for s in segstore.list_segments(store, principal=B01)}
    with pytest.raises(NotFoundError):
        segstore.get(store, segment_id="ho-only", principal=B01)
    seg = segstore.share(store, principal=HEAD, segment_id="ho-only", org_paths=["/HO/B01/"])
    assert seg.shared_with == ("/HO/B01/",)
    b01_sees = {s.segment_id for s in segstore.list_segments(store, principal=B01)}
    assert {"ho-only", "b01-own"} <= b01_sees
    assert "ho-only" not in {s.segment_id for s in segstore.list_segments(store, principal=B02)}
    assert "b01-own" in {s.segment_id for s in segstore.list_segments(store, principal=HEAD)}
    with pytest.raises(ForbiddenError):  # shared is read-only for the branch
        segstore.update(store, principal=B01, segment_id="ho-only", doc=_doc("ho-only"))
    with pytest.raises(InvalidInputError) as exc:
        segstore.share(store, principal=HEAD, segment_id="ho-only", org_paths=["B01"])
    assert exc.value.where == "org_paths[0]"
    segstore.archive(store, principal=B01, segment_id="b01-own")
    assert "b01-own" not in {s.segment_id for s in segstore.list_segments(store, principal=B01)}


def test_materialised_equals_preview_equals_oracle(
    store: Store, wh: Warehouse, bank: dict[str, pa.Table]
) -> None:
    seg = segstore.create(store, principal=HEAD, doc=_doc("m1"))
    snap = mat.materialise(store, wh, principal=HEAD, segment_id="m1", as_of=AS_OF)
    expected = _oracle(bank)
    assert snap["size"] == len(expected) > 0
    assert preview(wh=wh, defn=seg.definition, as_of=AS_OF, sample=0).count == len(expected)
    _, members = mat.snapshot_members(store, wh, principal=HEAD, segment_id="m1")
    assert set(wh.execute(members.select("customer_id")).column(0).to_pylist()) == expected
    history = mat.history(store, wh, principal=HEAD, segment_id="m1")
    assert [h["size"] for h in history] == [len(expected)]


def test_branch_sees_only_its_members_in_a_shared_segment(
    store: Store, wh: Warehouse, bank: dict[str, pa.Table]
) -> None:
    segstore.create(store, principal=HEAD, doc=_doc("shared"))
    segstore.share(store, principal=HEAD, segment_id="shared", org_paths=["/HO/B01/"])
    mat.materialise(store, wh, principal=HEAD, segment_id="shared", as_of=AS_OF)
    with pytest.raises(ForbiddenError):  # a branch may not overwrite the bank-wide snapshot
        mat.materialise(store, wh, principal=B01, segment_id="shared", as_of=AS_OF)
    data = mat.export(store, wh, principal=B01, segment_id="shared", fmt="csv")
    got = pd.read_csv(io.BytesIO(data))
    expected = _oracle(bank, "/HO/B01/")
    assert set(got.customer_id) == expected and len(got) == len(expected)
    assert got.org_path.str.startswith("/HO/B01/").all()
    assert got.phone.str.contains(r"\*\*\*\*").all()  # masked
    sizes = mat.history(store, wh, principal=B01, segment_id="shared")
    assert [h["size"] for h in sizes] == [len(expected)]
    assert "segment.export" in _actions(store, "shared")
    parquet = pq.read_table(
        io.BytesIO(mat.export(store, wh, principal=HEAD, segment_id="shared", fmt="parquet"))
    )
    assert set(parquet.column("customer_id").to_pylist()) == _oracle(bank)
    with pytest.raises(ForbiddenError):
        mat.export(store, wh, principal=B01, segment_id="shared", reveal=True)
    with pytest.raises(NotFoundError):
        mat.export(store, wh, principal=B02, segment_id="shared")


def test_export_needs_a_snapshot(store: Store, wh: Warehouse) -> None:
    segstore.create(store, principal=HEAD, doc=_doc("nosnap"))
    with pytest.raises(ConflictError):
        mat.export(store, wh, principal=HEAD, segment_id="nosnap")


def test_upload_static_segment_and_in_segment_resolves_it(
    store: Store, wh: Warehouse, bank: dict[str, pa.Table]
) -> None:
    c = bank["customers"].to_pandas()
    b01 = [int(i) for i in c[c.org_path.str.startswith("/HO/B01/")].customer_id[:15]]
    b02 = int(c[c.org_path.str.startswith("/HO/B02/")].customer_id.iloc[0])
    bad = ("customer_id\n" + "\n".join(map(str, [*b01, b02]))).encode()
    with pytest.raises(InvalidInputError) as exc:
        mat.upload(store, wh, principal=B01, segment_id="up", name="list", data=bad)
    assert str(b02) in exc.value.message and exc.value.where == "file"
    with pytest.raises(NotFoundError):  # nothing saved
        segstore.get(store, segment_id="up", principal=B01)
    with pytest.raises(InvalidInputError) as line:
        mat.upload(store, wh, principal=B01, segment_id="up", name="l", data=b"1\nabc\n")
    assert line.value.where == "file line 2"
    good = "\n".join(map(str, b01)).encode()
    snap = mat.upload(store, wh, principal=B01, segment_id="up", name="list", data=good)
    assert snap["size"] == len(set(b01))
    # a rule segment refers to the uploaded one: in_segment resolves from the store
    ref = {
        "id": "ref",
        "name": "uploaded and rich",
        "root": {
            "kind": "and",
            "children": [{"kind": "in_segment", "segment_id": "up"}, RICH["root"]],
        },
    }
    segstore.create(store, principal=B01, doc=ref)
    snap2 = mat.materialise(store, wh, principal=B01, segment_id="ref", as_of=AS_OF)
    assert snap2["size"] == len(set(b01) & _oracle(bank))


def test_refresh_due_runs_once_per_firing(store: Store, wh: Warehouse) -> None:
    segstore.create(store, principal=HEAD, doc=_doc("daily"), refresh_cron="0 6 * * *")
    utc = dt.UTC
    first = mat.refresh_due(store, wh, now=dt.datetime(2025, 6, 29, 23, 0, tzinfo=utc))
    assert "daily" in {r["segment_id"] for r in first}
    again = mat.refresh_due(store, wh, now=dt.datetime(2025, 6, 29, 23, 30, tzinfo=utc))
    assert "daily" not in {r["segment_id"] for r in again}
    # 06:00 Asia/Shanghai on the 30th is 22:00 UTC: the next firing refreshes it again
    later = mat.refresh_due(store, wh, now=dt.datetime(2025, 6, 30, 22, 1, tzinfo=utc))
    assert "daily" in {r["segment_id"] for r in later}
    assert len(mat.history(store, wh, principal=HEAD, segment_id="daily")) == 2


def test_segments_of_a_customer_respects_visibility(
    store: Store, wh: Warehouse, bank: dict[str, pa.Table]
) -> None:
    segstore.create(store, principal=HEAD, doc=_doc("prof"))
    mat.materialise(store, wh, principal=HEAD, segment_id="prof", as_of=AS_OF)
    cid = min(_oracle(bank))
    got = mat.segments_of(store, wh, principal=HEAD, customer_id=cid, dataset=None)
    assert "prof" in {g["segment_id"] for g in got}
    outsider = max(set(bank["customers"].column("customer_id").to_pylist()) - _oracle(bank))
    none = mat.segments_of(store, wh, principal=HEAD, customer_id=outsider, dataset=None)
    assert "prof" not in {g["segment_id"] for g in none}
    assert mat.segments_of(store, wh, principal=B02, customer_id=cid, dataset=None) == [] or all(
        g["segment_id"] != "prof"
        for g in mat.segments_of(store, wh, principal=B02, customer_id=cid, dataset=None)
    )


def test_refresh_due_finds_a_firing_far_in_the_past(store: Store, wh: Warehouse) -> None:
    """A yearly schedule (1 January 03:00 local) that fired eleven months ago, never run:
    due now, once; many such segments cost one step per day each, not per minute."""
    for i in range(40):
        segstore.create(store, principal=HEAD, doc=_doc(f"yearly{i}"), refresh_cron="0 3 1 1 *")
    now = dt.datetime(2025, 11, 30, 12, 0, tzinfo=dt.UTC)
    first = {r["segment_id"] for r in mat.refresh_due(store, wh, now=now)}
    assert {f"yearly{i}" for i in range(40)} <= first
    again = {r["segment_id"] for r in mat.refresh_due(store, wh, now=now + dt.timedelta(days=30))}
    assert not any(s.startswith("yearly") for s in again)
    new_year = dt.datetime(2025, 12, 31, 19, 0, tzinfo=dt.UTC)  # 2026-01-01 03:00 local
    assert "yearly7" in {r["segment_id"] for r in mat.refresh_due(store, wh, now=new_year)}
