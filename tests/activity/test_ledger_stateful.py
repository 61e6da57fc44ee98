"""Rule-based: after any sequence of issue/redeem/expire/revoke, balances = sum of entries."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from opsloop.activity import ledger
from opsloop.activity.counters import ExhaustedError, SqlCounters
from opsloop.activity.models import BenefitUnit, LedgerEntry
from opsloop.errors import ConflictError
from opsloop.store import Store

from .helpers import NOW, coupon

BENEFIT = coupon(total_stock=6, per_customer_lifetime=2, budget_cents=5000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.store = Store.open(f"sqlite:///{Path(self.dir.name) / 'l.db'}")
        self.counters = SqlCounters()
        self.n = 0
        self.model: dict[str, tuple[int, str]] = {}  # unit -> (customer, status)

    def teardown(self) -> None:
        self.store.close()
        self.dir.cleanup()

    @rule(cid=st.integers(1, 4))
    def issue(self, cid: int) -> None:
        live = [u for u, (c, st_) in self.model.items() if st_ != "revoked"]
        mine = [u for u in live if self.model[u][0] == cid]
        self.n += 1
        try:
            r = ledger.issue(
                self.store,
                counters=self.counters,
                benefit=BENEFIT,
                activity_id="a",
                customer_id=cid,
                now=NOW,
                idem_key=f"k{self.n}",
            )
        except ExhaustedError:
            assert len(live) >= 5 or len(mine) >= 2  # 5 × 1000 = budget, 6 = stock
            return
        assert len(live) < 5 and len(mine) < 2
        self.model[r.unit_id] = (cid, "issued")

    @rule(pick=st.integers(0, 50))
    def redeem(self, pick: int) -> None:
        if not self.model:
            return
        unit = sorted(self.model)[pick % len(self.model)]
        cid, status = self.model[unit]
        try:
            with self.store.session() as s:
                ledger.redeem(s, unit_id=unit, customer_id=cid, now=NOW, idem_key=f"r{unit}{pick}")
        except ConflictError:
            assert status != "issued"
            return
        assert status == "issued"
        self.model[unit] = (cid, "redeemed")

    @rule(pick=st.integers(0, 50))
    def revoke(self, pick: int) -> None:
        if not self.model:
            return
        unit = sorted(self.model)[pick % len(self.model)]
        cid, status = self.model[unit]
        try:
            ledger.revoke(
                self.store, counters=self.counters, benefit=BENEFIT, unit_id=unit, now=NOW
            )
        except ConflictError:
            assert status != "issued"
            return
        self.model[unit] = (cid, "revoked")

    @rule()
    def expire(self) -> None:
        with self.store.session() as s:
            n = ledger.expire_due(s, now=NOW + timedelta(days=30))
        assert n == sum(1 for _, st_ in self.model.values() if st_ == "issued")
        self.model = {
            u: (c, "expired" if st_ == "issued" else st_) for u, (c, st_) in self.model.items()
        }

    @invariant()
    def balances_are_sums_of_entries(self) -> None:
        with self.store.session() as s:
            entries = s.query(LedgerEntry).all()
            kinds = Counter(e.kind for e in entries)
            bal = ledger.balances(s, benefit_id=BENEFIT.id)
            assert bal.issued == kinds["issue"] and bal.revoked == kinds["revoke"]
            assert bal.stock_used == kinds["issue"] - kinds["revoke"]
            assert bal.budget_used_cents == 1000 * bal.stock_used
            assert ledger.reconcile(s, counters=self.counters, scope="b/c10") == []
            last = {e.unit_id: e.kind for e in sorted(entries, key=lambda e: e.id)}
            done = {
                "issue": "issued",
                "redeem": "redeemed",
                "expire": "expired",
                "revoke": "revoked",
            }
            for u in s.query(BenefitUnit).all():
                assert done[last[u.unit_id]] == u.status == self.model[u.unit_id][1]


LedgerMachine.TestCase.settings = settings(max_examples=8, stateful_step_count=15, deadline=None)
TestLedger = LedgerMachine.TestCase
