"""Lifecycle with maker-checker approval and audit; dry run; statistics and arm conversion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from tests.strategy.helpers import NOW, ArrayData, journey_doc, make_warehouse, send_journey

from opsloop.access.models import AuditEntry
from opsloop.access.principal import Principal
from opsloop.errors import ConflictError, ForbiddenError
from opsloop.store import Store
from opsloop.strategy import service
from opsloop.strategy.models import CustomerState, OutboxRow, StepRow
from opsloop.strategy.policy import CapRule, ContactPolicy, unit_hash

MAKER = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
CHECKER = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
BOTH = Principal(
    id="both", kind="user", permissions=frozenset({"journey:submit", "journey:approve"})
)
POLICY = ContactPolicy(caps=(CapRule(channel="sms", max=2, per="week"),))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path}/ops.db")


def test_lifecycle_maker_checker_and_versions(store: Store) -> None:
    with store.session() as s:
        info = service.save_journey(session=s, principal=MAKER, doc=journey_doc())
        assert (info.status, info.version) == ("draft", 1)
        service.transition(session=s, principal=MAKER, journey_id="welcome", action="submit")
    with store.session() as s, pytest.raises(ForbiddenError):
        service.transition(session=s, principal=MAKER, journey_id="welcome", action="approve")
    with store.session() as s, pytest.raises(ConflictError):
        service.transition(session=s, principal=MAKER, journey_id="welcome", action="launch")
    with store.session() as s:
        info = service.transition(
            session=s, principal=CHECKER, journey_id="welcome", action="approve"
        )
        assert info.approved_by == "checker"
        info = service.transition(session=s, principal=MAKER, journey_id="welcome", action="launch")
        assert info.status == "running" and info.running_version == 1
    # editing a running journey makes version 2; version 1 keeps running until v2 launches
    with store.session() as s:
        info = service.save_journey(session=s, principal=MAKER, doc=journey_doc(name="Welcome v2"))
        assert (info.version, info.status, info.running_version) == (2, "draft", 1)
        assert service.running_definition(session=s, journey_id="welcome").version == 1
        service.transition(session=s, principal=MAKER, journey_id="welcome", action="pause")
        assert service.get_journey(session=s, journey_id="welcome", version=1).status == "paused"
        service.transition(session=s, principal=BOTH, journey_id="welcome", action="submit")
    with store.session() as s, pytest.raises(ForbiddenError):
        service.transition(
            session=s, principal=BOTH, journey_id="welcome", action="approve"
        )  # own submit
    with store.session() as s:
        service.transition(session=s, principal=CHECKER, journey_id="welcome", action="approve")
        info = service.transition(session=s, principal=MAKER, journey_id="welcome", action="launch")
        assert info.running_version == 2
        assert (
            service.get_journey(session=s, journey_id="welcome", version=1).status == "superseded"
        )
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions == [
        "journey.create",
        "journey.submit",
        "journey.approve",
        "journey.launch",
        "journey.new_version",
        "journey.pause",
        "journey.submit",
        "journey.approve",
        "journey.launch",
    ]


def test_dry_run_stores_and_sends_nothing(store: Store, tmp_path: Path) -> None:
    wh = make_warehouse(tmp_path / "wh.duckdb", 2000)
    doc = journey_doc()
    doc["nodes"][0] = {
        "id": "entry",
        "kind": "segment_entry",
        "config": {
            "segment": {
                "name": "SH",
                "root": {"kind": "attribute", "field": "city", "op": "=", "value": "SH"},
            }
        },
    }
    f = service.dry_run(store=store, wh=wh, principal=MAKER, doc=doc, now=NOW, policy=POLICY)
    sh = wh.execute(wh.table("customers").filter(lambda t: t.city == "SH").count().as_table())
    assert f.candidates == sh.column(0)[0].as_py()
    assert f.sent == f.nodes["sms"]["sent"] + f.nodes["push"]["sent"] > 0
    assert f.estimated_cost_cents == 5 * f.nodes["sms"]["sent"]
    assert f.suppressed > 0
    with store.session() as s:
        for table in (CustomerState, StepRow, OutboxRow):
            assert s.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_stats_and_arm_conversion(store: Store, tmp_path: Path) -> None:
    n = 2000
    conv = [(i, "app_login", NOW + dt.timedelta(hours=1)) for i in range(1, n + 1, 3)]
    wh = make_warehouse(tmp_path / "wh.duckdb", n, conv)
    doc = journey_doc(
        goal={"event": {"event": "app_login"}, "within": {"amount": 2, "unit": "days"}}
    )
    with store.session() as s:
        service.save_journey(session=s, principal=MAKER, doc=doc)
    defn = service.validate_journey(doc)
    ids = np.arange(1, n + 1, dtype=np.int64)
    res = service.run_entry(
        store=store,
        wh=wh,
        principal=MAKER,
        defn=defn,
        now=NOW,
        entry_key="k",
        policy=POLICY,
        ids=ids,
        entry_node="entry",
    )
    with store.session() as s:
        st = service.journey_stats(session=s, journey_id="welcome")
    nodes = st["1"]["nodes"]
    assert nodes["sms"]["sent"] == res.stats["sms"]["sent"]
    assert nodes["login"]["waiting_now"] == nodes["login"]["entered"]
    conv_by_arm = service.arm_conversion(store=store, wh=wh, defn=defn)
    assert set(conv_by_arm) == {"a", "b", "holdout"}
    with store.session() as s:
        rows = s.execute(
            select(CustomerState.customer_id, CustomerState.arm).where(CustomerState.arm == "a")
        ).all()
    assert conv_by_arm["a"]["entered"] == len(rows)
    assert conv_by_arm["a"]["converted"] == sum(1 for c, _ in rows if c % 3 == 1)


def _launch(store: Store, doc: dict[str, object]) -> None:
    with store.session() as s:
        service.save_journey(session=s, principal=MAKER, doc=doc)
        service.transition(session=s, principal=MAKER, journey_id=str(doc["id"]), action="submit")
        service.transition(
            session=s, principal=CHECKER, journey_id=str(doc["id"]), action="approve"
        )
        service.transition(session=s, principal=MAKER, journey_id=str(doc["id"]), action="launch")


def test_real_time_event_enters_once_and_resumes_wait(store: Store, tmp_path: Path) -> None:
    wh = make_warehouse(tmp_path / "wh.duckdb", 50)
    doc = journey_doc()
    doc["nodes"][0] = {
        "id": "entry",
        "kind": "event_entry",
        "config": {"trigger": {"event": "signup", "properties": {"plan": "gold"}}},
    }
    doc["nodes"][1]["config"]["condition"]["value"] = 0  # everyone passes the split
    _launch(store, doc)
    cols = ArrayData(50).cols
    ids = np.arange(1, 51)
    fine = cols["consent_sms"] & cols["consent_push"] & ~cols["dnd"]
    fine &= unit_hash(ids, "opsloop-global-control") >= 0.05
    fine &= unit_hash(ids, "welcome/ab") >= 0.1
    cid = int(ids[fine][0])
    kw = {"store": store, "wh": wh, "principal": MAKER, "customer_id": cid, "policy": POLICY}
    other = service.on_event(
        event="signup", properties={"plan": "basic"}, message_id="m0", at=NOW, **kw
    )  # type: ignore[arg-type]
    assert other == {}
    for _ in range(2):  # a redelivered event (same message id) enters nobody twice
        service.on_event(event="signup", properties={"plan": "gold"}, message_id="m1", at=NOW, **kw)  # type: ignore[arg-type]
    with store.session() as s:
        states = s.execute(select(CustomerState.node_id, CustomerState.status)).all()
    assert states == [("login", "waiting")]
    later = NOW + dt.timedelta(hours=2)
    got = service.on_event(event="app_login", properties={}, message_id="m2", at=later, **kw)  # type: ignore[arg-type]
    assert got["welcome/resumed"]["login"]["branch:event"] == 1
    with store.session() as s:
        assert s.execute(select(CustomerState.status)).scalar_one() == "done"
        assert (
            s.execute(select(OutboxRow.kind).where(OutboxRow.kind == "tag")).scalar_one() == "tag"
        )


def test_service_runs_with_redis_counters(store: Store, tmp_path: Path, redis_url: str) -> None:
    wh = make_warehouse(tmp_path / "wh.duckdb", 300)
    policy = ContactPolicy(caps=(CapRule(channel="sms", max=1, per="day"),))
    ids = np.arange(1, 301, dtype=np.int64)
    sent = []
    for jid in ("r1", "r2"):
        defn = service.validate_journey(send_journey(jid))
        res = service.run_entry(
            store=store, wh=wh, principal=MAKER, defn=defn, now=NOW, entry_key="k", policy=policy,
            ids=ids, entry_node="entry", ports=service.recording_ports(redis_url),
        )  # fmt: skip
        sent.append(res.stats["send"].get("sent", 0))
    assert sent[0] > 0 and sent[1] == 0  # the second journey meets the cap the first filled
    assert (
        dict(
            service.journey_stats(session=store.sessions(), journey_id="r2")["1"]["nodes"]["send"]
        )["suppressed:capped"]
        == sent[0]
    )
