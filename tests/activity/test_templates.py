"""The templates through the participation service: sign-in streak, lucky draw,
referral (MGM), tasks and quota test, on a controlled clock (SQLite store, SQL counters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import chisquare
from sqlalchemy import func, select

from opsloop.access.principal import Principal
from opsloop.activity import ledger, service
from opsloop.activity.counters import SqlCounters
from opsloop.activity.models import BenefitUnit, Participation, RiskDecision
from opsloop.activity.risk import ListCache, SqlWindows
from opsloop.errors import ConflictError, InvalidInputError
from opsloop.store import Store

from .helpers import NOW, coupon

MAKER = Principal("maker", "user", permissions=frozenset({"*"}))
CHECKER = Principal("checker", "user", permissions=frozenset({"*"}))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{home / 'templates.db'}")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(store: Store, clock: Clock) -> service.Runtime:
    return service.Runtime(
        store, SqlCounters(), SqlWindows(store), ListCache(store), clock=clock, seed="fixed"
    )


def _benefits(store: Store, *ids: str, **limits: Any) -> None:
    for bid in ids:
        doc = coupon(bid, **limits).model_dump(mode="json")
        service.create_benefit(store=store, actor=MAKER, doc=doc)


def _launch(store: Store, template: dict[str, Any], **extra: Any) -> str:
    doc = {
        "name": "活动",
        "template": template,
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2027-01-01T00:00:00Z",
        "landing": {"title": "t"},
    } | extra
    aid: str = service.create_activity(store=store, actor=MAKER, doc=doc)["id"]
    for who, action in ((MAKER, "submit"), (CHECKER, "approve"), (MAKER, "start")):
        service.transition(store=store, actor=who, activity_id=aid, action=action)
    return aid


def _go(rt: service.Runtime, aid: str, cid: int, **kw: Any) -> service.Outcome:
    return service.participate(rt=rt, activity_id=aid, req=service.Request(cid, **kw))


def _units(store: Store, **where: Any) -> list[BenefitUnit]:
    with store.session() as s:
        q = select(BenefitUnit).filter_by(**where).order_by(BenefitUnit.issued_at)
        return list(s.execute(q).scalars())


def test_sign_in_streak_pays_by_day_resets_on_a_gap_and_cycles(
    store: Store, rt: service.Runtime, clock: Clock
) -> None:
    _benefits(store, "day1", "day3")
    rewards = [{"day": 1, "benefit_id": "day1"}, {"day": 3, "benefit_id": "day3"}]
    aid = _launch(store, {"kind": "sign_in", "rewards": rewards, "cycle_days": 3})
    got = []
    for offset in (0, 1, 2, 3, 5):  # days 1,2,3 then day 4 (new cycle), gap, day 6
        clock.now = NOW + timedelta(days=offset)
        out = _go(rt, aid, 7)
        got.append((out.outcome, out.detail, len(out.unit_ids)))
        if offset == 0:
            assert _go(rt, aid, 7).outcome == "already_checked_in"
    assert got == [
        ("checked_in", "streak day 1", 1),
        ("checked_in", "streak day 2", 0),
        ("checked_in", "streak day 3", 1),
        ("checked_in", "streak day 1", 1),  # the 4th consecutive day starts a new cycle
        ("checked_in", "streak day 1", 1),  # a missed day resets the streak
    ]
    assert [u.benefit_id for u in _units(store, customer_id=7)] == [
        "day1",
        "day3",
        "day1",
        "day1",
    ]


def test_lucky_draw_frequencies_follow_the_probabilities(store: Store, rt: service.Runtime) -> None:
    _benefits(store, "big", "small")
    prizes = [
        {"benefit_id": "big", "probability": 0.15},
        {"benefit_id": "small", "probability": 0.25},
    ]
    aid = _launch(store, {"kind": "lucky_draw", "prizes": prizes})
    n = 400
    seen = {"big": 0, "small": 0, "none": 0}
    for cid in range(1, n + 1):
        out = _go(rt, aid, cid)
        seen[out.detail if out.outcome == "issued" else "none"] += 1  # type: ignore[index]
    expected = [n * 0.15, n * 0.25, n * 0.60]
    stat = chisquare([seen["big"], seen["small"], seen["none"]], expected)
    assert stat.pvalue > 0.001, (seen, stat)
    assert len(_units(store, benefit_id="big")) == seen["big"]  # the ledger agrees


def test_lucky_draw_prize_stock_and_draws_per_day(
    store: Store, rt: service.Runtime, clock: Clock
) -> None:
    _benefits(store, "rare", total_stock=3)
    aid = _launch(
        store,
        {
            "kind": "lucky_draw",
            "prizes": [{"benefit_id": "rare", "probability": 1}],
            "draws_per_day": 2,
        },
    )
    outs = [_go(rt, aid, cid).outcome for cid in (1, 1, 1, 2, 2, 3)]
    # customer 1: two draws then none left; the 4th win would exceed the prize stock
    assert outs == ["issued", "issued", "no_draws_left", "issued", "no_prize", "no_prize"]
    with store.session() as s:
        assert ledger.balances(s, benefit_id="rare").issued == 3
    clock.now = NOW + timedelta(days=1)
    assert _go(rt, aid, 1).outcome == "no_prize"  # a new day's draw, but the stock is gone


def test_referral_rewards_both_sides_once_and_blocks_rings(
    store: Store, rt: service.Runtime
) -> None:
    _benefits(store, "inviter", "invitee")
    aid = _launch(
        store,
        {
            "kind": "referral",
            "inviter_benefit_id": "inviter",
            "invitee_benefit_id": "invitee",
            "qualifying_action": "first_purchase",
            "max_invites": 2,
        },
    )
    code_a = _go(rt, aid, 1, action="invite").invite_code
    assert code_a == service.invite_code(aid, 1)
    own = _go(rt, aid, 1, action="accept", invite_code=code_a)  # a one-node ring
    assert own.outcome == "block" and own.risk is not None
    with pytest.raises(InvalidInputError):
        _go(rt, aid, 2, action="accept", invite_code="1-000000")  # forged tag
    assert _go(rt, aid, 2, action="accept", invite_code=code_a).outcome == "accepted"
    assert _go(rt, aid, 2, action="accept", invite_code=code_a).outcome == "already_invited"
    with pytest.raises(InvalidInputError):
        _go(rt, aid, 2, action="kyc")  # not this activity's qualifying action
    rewarded = _go(rt, aid, 2, action="first_purchase")
    assert rewarded.outcome == "rewarded" and len(rewarded.unit_ids) == 2
    assert _go(rt, aid, 2, action="first_purchase").outcome == "not_qualifying"  # once
    assert [u.benefit_id for u in _units(store, customer_id=2)] == ["invitee"]
    assert [u.benefit_id for u in _units(store, customer_id=1)] == ["inviter"]
    # the invitee never qualified: nobody is rewarded
    assert _go(rt, aid, 3, action="accept", invite_code=code_a).outcome == "accepted"
    assert _go(rt, aid, 4, action="accept", invite_code=code_a).outcome == "exhausted"
    # 1 invited 2; 1 accepting 2's code closes a ring: blocked and recorded
    ring = _go(rt, aid, 1, action="accept", invite_code=service.invite_code(aid, 2))
    assert ring.outcome == "block" and ring.risk is not None
    assert "referral.cycle" in [f["rule"] for f in ring.risk["fired"]]
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(RiskDecision)).scalar_one() == 2


def test_tasks_reward_each_action_once(store: Store, rt: service.Runtime) -> None:
    _benefits(store, "kycb", "cardb")
    tasks = [
        {"action": "kyc", "benefit_id": "kycb"},
        {"action": "bind_card", "benefit_id": "cardb"},
    ]
    aid = _launch(store, {"kind": "task", "tasks": tasks})
    first = _go(rt, aid, 5, action="kyc")
    again = _go(rt, aid, 5, action="kyc")
    assert first.outcome == again.outcome == "issued" and first.unit_ids == again.unit_ids
    assert _go(rt, aid, 5, action="bind_card").outcome == "issued"
    with pytest.raises(InvalidInputError):
        _go(rt, aid, 5, action="first_purchase")
    assert sorted(u.benefit_id for u in _units(store, customer_id=5)) == ["cardb", "kycb"]
    with store.session() as s:
        actions = s.execute(select(Participation.action).order_by(Participation.action)).scalars()
        assert list(actions) == ["bind_card", "kyc"]  # recorded with the issue, once each


def test_quota_test_gives_one_coupon_per_customer(store: Store, rt: service.Runtime) -> None:
    _benefits(store, "loan", total_stock=10)
    aid = _launch(store, {"kind": "quota_test", "benefit_id": "loan"})
    outs = [_go(rt, aid, cid) for cid in (1, 1, 2)]
    assert outs[0].unit_ids == outs[1].unit_ids and outs[2].unit_ids != outs[0].unit_ids
    with store.session() as s:
        assert ledger.balances(s, benefit_id="loan").issued == 2


def test_participation_needs_a_running_activity_inside_its_window(
    store: Store, rt: service.Runtime, clock: Clock
) -> None:
    _benefits(store, "c1")
    aid = _launch(store, {"kind": "coupon_drop", "benefit_id": "c1"})
    clock.now = datetime.fromisoformat("2027-01-01T00:00:00+00:00")
    with pytest.raises(ConflictError) as err:
        _go(rt, aid, 1)
    assert err.value.where == "starts_at"
    clock.now = NOW
    service.transition(store=store, actor=MAKER, activity_id=aid, action="pause")
    rt.cache_seconds = 0
    with pytest.raises(ConflictError) as err:
        _go(rt, aid, 1)
    assert err.value.where == "status"
