"""`opsloop activity` end to end (maker-checker as named users, audit), scheduled
expiry (idempotent) and redemption by transaction event (idempotent)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from access.fixtures import add_user
from opsloop.access.models import AuditEntry as AuditLog
from opsloop.access.principal import Principal
from opsloop.activity import ledger, service
from opsloop.activity.counters import SqlCounters
from opsloop.activity.models import BenefitUnit, LedgerEntry
from opsloop.cli.activity import app
from opsloop.store import Store

from .helpers import NOW, coupon

OPS = Principal("ops", "user", permissions=frozenset({"*"}))


@pytest.fixture
def store(home: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    from opsloop.settings import get_settings

    url = f"sqlite:///{home / 'cli.db'}"
    monkeypatch.setenv("OPSLOOP_DATABASE_URL", url)
    get_settings.cache_clear()
    home.mkdir(parents=True, exist_ok=True)
    return Store.open(url)


def test_cli_lifecycle_needs_two_people_and_is_audited(store: Store, home: Path) -> None:
    add_user(store, "maker", roles=["operator"])
    add_user(store, "checker", roles=["approver"])
    service.create_benefit(store=store, actor=OPS, doc=coupon().model_dump(mode="json"))
    doc = {
        "name": "春季领券",
        "template": {"kind": "coupon_drop", "benefit_id": "c10"},
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2027-01-01T00:00:00Z",
        "landing": {"title": "领券"},
    }
    path = home / "act.json"
    path.write_text(json.dumps(doc))
    run = CliRunner().invoke
    made = run(app, ["create", str(path), "--as", "maker", "--json"])
    assert made.exit_code == 0, made.output
    aid = json.loads(made.output)["id"]
    assert run(app, ["submit", aid, "--as", "maker"]).exit_code == 0
    own = run(app, ["approve", aid, "--as", "maker"])
    assert own.exit_code != 0  # the submitter cannot approve
    assert run(app, ["approve", aid, "--as", "nobody"]).exit_code != 0
    assert run(app, ["approve", aid, "--as", "checker"]).exit_code == 0
    listed = json.loads(run(app, ["list", "--json", "--status", "approved"]).output)
    assert [a["id"] for a in listed] == [aid]
    stats = json.loads(run(app, ["stats", aid]).output)
    assert stats["issued"] == 0 and stats["status"] == "approved"
    with store.session() as s:
        actions = s.execute(
            select(AuditLog.action, AuditLog.actor)
            .where(AuditLog.target_id == aid)
            .order_by(AuditLog.id)
        ).all()
    assert [tuple(a) for a in actions] == [
        ("activity.create", "maker"),
        ("activity.submit", "maker"),
        ("activity.approve", "checker"),
    ]


def test_expiry_is_scheduled_idempotent_and_spares_redeemed_units(store: Store, home: Path) -> None:
    b = coupon(total_stock=10)
    units = [
        ledger.issue(
            store,
            counters=SqlCounters(),
            benefit=b,
            activity_id="a1",
            customer_id=c,
            now=NOW,
            idem_key=f"k{c}",
        ).unit_id
        for c in (1, 2, 3)
    ]
    with store.session() as s:
        ledger.redeem(s, unit_id=units[0], customer_id=1, now=NOW, idem_key="r1")
    early = service.expire_due(store=store, now=NOW + timedelta(days=6), actor=OPS)
    assert early == 0  # valid 7 days
    later = NOW + timedelta(days=7)
    out = CliRunner().invoke(app, ["expire", "--now", later.isoformat()])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["expired"] == 2
    assert service.expire_due(store=store, now=later + timedelta(days=1), actor=OPS) == 0
    with store.session() as s:
        kinds = s.execute(select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind)).all()
        assert dict(kinds) == {"issue": 3, "redeem": 1, "expire": 2}
        statuses = s.execute(select(BenefitUnit.unit_id, BenefitUnit.status)).all()
        assert dict(statuses) == {units[0]: "redeemed", units[1]: "expired", units[2]: "expired"}
        assert ledger.balances(s, benefit_id="c10").expired == 2
        n = s.execute(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "benefit.expire")
        ).scalar_one()
        assert n == 1


def test_a_fund_purchase_redeems_the_best_coupon_once(store: Store) -> None:
    small = coupon("small", total_stock=10)  # 满100减10
    big = coupon("big", total_stock=10).model_copy(
        update={
            "value": coupon().value.model_copy(
                update={"amount_cents": 5000, "threshold_cents": 50000}
            )
        }
    )
    for b in (small, big):
        ledger.issue(
            store,
            counters=SqlCounters(),
            benefit=b,
            activity_id="a1",
            customer_id=9,
            now=NOW,
            idem_key=f"i-{b.id}",
        )
    with store.session() as s:
        # ¥200: only the small coupon's threshold is met
        first = ledger.redeem_by_transaction(
            s, customer_id=9, amount_cents=20000, txn_id="t1", now=NOW
        )
        assert first is not None and first.benefit_id == "small"
    with store.session() as s:
        replay = ledger.redeem_by_transaction(
            s, customer_id=9, amount_cents=20000, txn_id="t1", now=NOW
        )
        assert replay is not None and replay.id == first.id  # the event replayed: no change
        assert (
            ledger.redeem_by_transaction(s, customer_id=9, amount_cents=20000, txn_id="t2", now=NOW)
            is None
        )  # no live coupon left whose threshold ¥200 meets
        big_one = ledger.redeem_by_transaction(
            s, customer_id=9, amount_cents=60000, txn_id="t3", now=NOW
        )
        assert big_one is not None and big_one.benefit_id == "big"
        assert ledger.balances(s, activity_id="a1").redeemed == 2
