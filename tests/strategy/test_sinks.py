"""The ports wired to Reach's outbox/contact history and Activity's ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from tests.activity.helpers import coupon
from tests.strategy.helpers import NOW, journey_doc, make_warehouse

from opsloop.activity.models import BenefitRow, BenefitUnit, LedgerEntry
from opsloop.reach import outbox
from opsloop.reach.channels.stored import TaskChannel
from opsloop.reach.models import ContactRow, TaskRow
from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.store import Store
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import RunContext, enter
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.models import StepRow
from opsloop.strategy.policy import CapRule, ContactPolicy
from opsloop.strategy.service import live_ports
from opsloop.strategy.sinks import LedgerIssuer
from opsloop.warehouse import Warehouse

N = 600
DAY = {"amount": 1, "unit": "days"}
POLICY = ContactPolicy(caps=(CapRule(channel="sms", max=2, per="week"),))


@pytest.fixture
def env(tmp_path: Path) -> tuple[Store, Warehouse]:
    return Store.open(f"sqlite:///{tmp_path}/ops.db"), make_warehouse(tmp_path / "w.duckdb", N)


def _enter(store: Store, wh: Warehouse, doc: dict[str, Any], key: str = "k1") -> Any:
    return enter(
        sessions=store.session,
        journey=validate_journey(doc),
        entry_node="entry",
        ids=np.arange(1, N + 1, dtype=np.int64),
        data=WarehouseData(wh, as_of=NOW),
        ports=live_ports(),
        ctx=RunContext(now=NOW, entry_key=key, policy=POLICY),
        chunk=250,
    )


def test_messages_land_in_reach_outbox_once_and_suppressions_in_contact_history(
    env: tuple[Store, Warehouse],
) -> None:
    store, wh = env
    res = _enter(store, wh, journey_doc())
    again = _enter(store, wh, journey_doc())  # same entry key: nobody enters twice
    assert again.entered == 0
    with store.session() as s:
        done = s.execute(
            select(StepRow.node_id, StepRow.customer_id, StepRow.visit).where(
                StepRow.outcome == "done", StepRow.node_id.in_(("sms", "push"))
            )
        ).all()
        rows = s.execute(select(ReachOutbox.key, ReachOutbox.channel, ReachOutbox.status)).all()
        refused = s.execute(
            select(StepRow.customer_id, StepRow.reason).where(StepRow.outcome == "suppressed")
        ).all()
        contacts = s.execute(
            select(ContactRow.customer_id, ContactRow.reason).where(ContactRow.kind == "suppressed")
        ).all()
    want = {(outbox.journey_key("welcome", 1, n, c, v), n) for n, c, v in done}
    assert {(k, ch) for k, ch, _ in rows} == want and len(rows) == len(want)
    assert res.stats["sms"]["sent"] + res.stats["push"]["sent"] == len(rows) > 0
    assert {st for _, _, st in rows} == {"pending"}
    assert sorted(contacts) == sorted(refused) and len(contacts) > 0
    # Reach's dispatch claims exactly these rows.
    claimed = outbox.claim(store, now=NOW + dt.timedelta(seconds=1), limit=10_000)
    assert {c.message.key for c in claimed} == {k for k, _ in want}
    assert all(c.message.payload["journey_id"] == "welcome" for c in claimed)


def _benefit_doc(on_blocked: dict[str, Any] | None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "coupon", "kind": "issue_benefit"}
    node["config"] = {"benefit_id": "c10", "cost_cents": 1000}
    if on_blocked:
        node["on_blocked"] = on_blocked
    return {
        "id": "give",
        "name": "Give",
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            node,
            {"id": "rm", "kind": "rm_task", "config": {"title": "call", "due": DAY}},
        ],
        "edges": [{"from": "entry", "to": "coupon"}, {"from": "coupon", "to": "rm"}],
    }  # fmt: skip


@pytest.mark.parametrize("on_blocked", [None, {"action": "skip"}])
def test_benefits_through_the_ledger_respect_stock(
    env: tuple[Store, Warehouse], on_blocked: dict[str, Any] | None
) -> None:
    store, wh = env
    b = coupon(total_stock=7, per_customer_lifetime=1)
    with store.session() as s:
        s.add(_row(b))
    res = _enter(store, wh, _benefit_doc(on_blocked))
    with store.session() as s:
        issued = s.execute(
            select(LedgerEntry.customer_id, LedgerEntry.idem_key).where(LedgerEntry.kind == "issue")
        ).all()
        units = s.execute(select(func.count()).select_from(BenefitUnit)).scalar_one()
        steps = dict(
            s.execute(
                select(StepRow.outcome, func.count())
                .where(StepRow.node_id == "coupon")
                .group_by(StepRow.outcome)
            ).all()
        )
        tasks = s.execute(
            select(ReachOutbox.customer_id, ReachOutbox.payload).where(ReachOutbox.channel == "rm")
        ).all()
    assert len(issued) == units == 7 and steps == {"done": 7, "suppressed": res.entered - 7}
    assert {k for _, k in issued} == {
        outbox.journey_key("give", 1, "coupon", c, 1) for c, _ in issued
    }
    assert res.stats["coupon"]["suppressed:exhausted"] == res.entered - 7
    # default exit: only the 7 who got a coupon reach the RM task; skip: everybody does
    assert len(tasks) == (res.entered if on_blocked else 7)
    org = wh.execute(wh.table("customers").select("customer_id", "org_path")).to_pylist()
    orgs = {r["customer_id"]: r["org_path"] for r in org}
    assert all(p["org_path"] == orgs[c] for c, p in tasks)
    # Reach's task channel turns a claimed row into the RM's task.
    claimed = outbox.claim(store, now=NOW + dt.timedelta(seconds=1), limit=5, channels=["rm"])
    for c in claimed:
        assert TaskChannel("rm", store, kind="rm").send(c.message).outcome == "sent"
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(TaskRow)).scalar_one() == len(claimed)


def test_ledger_issuer_is_idempotent_per_step(env: tuple[Store, Warehouse]) -> None:
    """A step replayed after a crash (same keys) finds its units and issues nothing new."""
    from opsloop.strategy.ports import StepBatch

    store, _ = env
    b = coupon(total_stock=100)
    with store.session() as s:
        s.add(_row(b))
    batch = StepBatch(
        "j", 1, "n", np.arange(1, 11, dtype=np.int64), np.ones(10, dtype=np.int64), NOW
    )
    issuer = LedgerIssuer()
    for _ in range(2):
        with store.session() as s:
            ok = issuer.issue(s, batch, benefit_id=b.id, payload={})
        assert ok.all()
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 10


def _row(b: Any) -> BenefitRow:
    return BenefitRow(
        benefit_id=b.id,
        name=b.name,
        kind=b.value.kind,
        definition=b.model_dump(mode="json"),
        created_by="ops",
    )
