"""Activity services: catalogue, maker-checker lifecycle, participation, stats.

A :class:`Runtime` bundles what participation needs (store, counters, risk windows,
lists, clock, seeded randomness); the API builds one per process. Staff writes are
audited; customer participation is recorded in the ledger and participations instead
(auditing every coupon grab would serialise them on the audit chain).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from opsloop.access import audit
from opsloop.access.clock import as_utc, utcnow
from opsloop.access.principal import Principal
from opsloop.activity import eligibility, ledger
from opsloop.activity import scope as activity_scope
from opsloop.activity.benefits import BenefitDef, Eligibility
from opsloop.activity.counters import Counters, ExhaustedError, RedisCounters, SqlCounters
from opsloop.activity.definitions import (
    ActivityDefinition,
    CouponDrop,
    LuckyDraw,
    QuotaTest,
    Referral,
    SignIn,
    Task,
    parse_definition,
)
from opsloop.activity.eligibility import Audience
from opsloop.activity.grab import Grabber
from opsloop.activity.graph import RedisGraph
from opsloop.activity.models import (
    ActivityRow,
    BenefitRow,
    Participation,
    RiskDecision,
    RiskListEntry,
)
from opsloop.activity.models import Referral as ReferralRow
from opsloop.activity.risk import (
    Attempt,
    ListCache,
    RedisWindows,
    SqlWindows,
    Verdict,
    Windows,
    evaluate,
)
from opsloop.activity.soldout import SoldOut
from opsloop.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from opsloop.store import Store
from opsloop.warehouse import Warehouse

TRANSITIONS = {  # action -> (from states, to state, permission)
    "submit": (("draft",), "submitted", "activity:submit"),
    "reject": (("submitted",), "draft", "activity:approve"),
    "approve": (("submitted",), "approved", "activity:approve"),
    "start": (("approved", "paused"), "running", "activity:submit"),
    "pause": (("running",), "paused", "activity:submit"),
    "finish": (("running", "paused", "approved"), "finished", "activity:submit"),
}


@dataclass
class Runtime:
    store: Store
    counters: Counters
    windows: Windows
    lists: ListCache
    clock: Callable[[], datetime] = utcnow
    seed: str = field(default_factory=lambda: uuid.uuid4().hex)
    audience: Audience | None = None  # segment/KYC eligibility (needs the warehouse)
    grabber: Grabber | None = None  # the Redis coupon grab (lean path)
    sold_out: SoldOut = field(default_factory=SoldOut)  # refusals without I/O (lean path)
    graph: RedisGraph | None = None  # invite-graph facts in Redis (else the SQL query)
    cache_seconds: float = 1.0
    _cache: dict[str, tuple[float, ActivityRow, ActivityDefinition, dict[str, BenefitDef]]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls, store: Store, redis_url: str | None, warehouse: Warehouse | None = None, **kw: Any
    ) -> Runtime:
        """SQL counters and windows by default; Redis ones (and the Redis coupon grab)
        when ``redis_url`` is set; segment/KYC eligibility when ``warehouse`` is given."""
        audience = Audience(store, warehouse) if warehouse is not None else None
        if redis_url:
            counters = RedisCounters(redis_url, ledger.derived_counters)

            def seed(scopes: list[str]) -> None:
                with store.session() as s:
                    for scope in scopes:
                        counters.seed(s, scope)

            sold_out = SoldOut()
            return cls(
                store,
                counters,
                RedisWindows(redis_url),
                ListCache(store),
                audience=audience,
                grabber=Grabber(store, counters, seed, released=sold_out.clear),
                sold_out=sold_out,
                graph=RedisGraph(redis_url, lambda aid: referral_edges(store, aid)),
                **kw,
            )
        return cls(
            store, SqlCounters(), SqlWindows(store), ListCache(store), audience=audience, **kw
        )

    def peek(
        self, activity_id: str
    ) -> tuple[ActivityRow, ActivityDefinition, dict[str, BenefitDef]] | None:
        """The cached activity if it is fresh, without touching the store (else None)."""
        hit = self._cache.get(activity_id)
        if hit and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1:]
        return None

    def load(
        self, activity_id: str
    ) -> tuple[ActivityRow, ActivityDefinition, dict[str, BenefitDef]]:
        """The activity (status at most ``cache_seconds`` old) and its parsed documents.

        One thread per process refreshes an expired entry while the others wait for it;
        an unchanged version keeps its parsed definition and benefits (benefits are
        immutable), so a refresh is one primary-key read.
        """
        hit = self._cache.get(activity_id)
        if hit and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1:]
        with self._lock:
            hit = self._cache.get(activity_id)
            if hit and time.monotonic() - hit[0] < self.cache_seconds:
                return hit[1:]
            with self.store.session() as s:
                row = _activity(s, activity_id)
                if hit and hit[1].version == row.version:
                    defn, benefits = hit[2], hit[3]
                else:
                    defn = ActivityDefinition.model_validate(row.definition)
                    benefits = _benefits(s, defn.benefit_ids())
            self._cache[activity_id] = (time.monotonic(), row, defn, benefits)
            return row, defn, benefits


_BUILD = threading.Lock()


def runtime_for(state: Any) -> Runtime:
    """The process's runtime on an app's ``state`` (store, settings, warehouse), built once."""
    rt: Runtime | None = getattr(state, "activity_runtime", None)
    if rt is None:
        with _BUILD:
            rt = getattr(state, "activity_runtime", None)
            if rt is None:
                rt = Runtime.build(
                    state.store, state.settings.redis_url, getattr(state, "warehouse", None)
                )
                state.activity_runtime = rt
    return rt


def _activity(s: Any, activity_id: str) -> ActivityRow:
    row = s.get(ActivityRow, activity_id)
    if row is None:
        raise NotFoundError(f"no activity {activity_id}", where="activity_id")
    return row  # type: ignore[no-any-return]


def _benefits(s: Any, ids: list[str]) -> dict[str, BenefitDef]:
    rows = s.execute(select(BenefitRow).where(BenefitRow.benefit_id.in_(ids))).scalars()
    found = {r.benefit_id: BenefitDef.model_validate(r.definition) for r in rows}
    for i, bid in enumerate(ids):
        if bid not in found:
            raise InvalidInputError(f"unknown benefit {bid}", where=f"benefits[{i}]")
    return found


# ---- catalogue -------------------------------------------------------------------


def create_benefit(*, store: Store, actor: Principal, doc: dict[str, Any]) -> BenefitDef:
    """Add a benefit; benefits are immutable, so their caps never move under counters."""
    from pydantic import ValidationError

    try:
        b = BenefitDef.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "benefit"
        raise InvalidInputError(err["msg"], where=where) from e
    with store.session() as s:
        if s.get(BenefitRow, b.id) is not None:
            raise ConflictError(f"benefit {b.id} exists", where="id")
        s.add(
            BenefitRow(
                benefit_id=b.id,
                name=b.name,
                kind=b.value.kind,
                definition=b.model_dump(mode="json"),
                created_by=actor.id,
            )
        )
        audit.record(
            s,
            actor=actor,
            action="benefit.create",
            target_type="benefit",
            target_id=b.id,
            after=b.model_dump(mode="json"),
        )
    return b


def list_benefits(*, store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.execute(select(BenefitRow).order_by(BenefitRow.benefit_id)).scalars()
        out = []
        for r in rows:
            bal = ledger.balances(s, benefit_id=r.benefit_id)
            out.append({"definition": r.definition, "balance": bal.__dict__})
        return out


def create_activity(*, store: Store, actor: Principal, doc: dict[str, Any]) -> dict[str, Any]:
    defn = parse_definition(doc)
    activity_id = uuid.uuid4().hex[:16]
    with store.session() as s:
        _benefits(s, defn.benefit_ids())
        row = ActivityRow(
            activity_id=activity_id,
            name=defn.name,
            template=defn.template.kind,
            status="draft",
            definition=defn.model_dump(mode="json"),
            version=1,
            created_by=actor.id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        s.add(row)
        audit.record(
            s,
            actor=actor,
            action="activity.create",
            target_type="activity",
            target_id=activity_id,
            after={"name": defn.name},
        )
        return public(row)


def update_activity(
    *, store: Store, actor: Principal, activity_id: str, doc: dict[str, Any]
) -> dict[str, Any]:
    """Edit a draft (a submitted or approved activity must be rejected back first)."""
    defn = parse_definition(doc)
    with store.session() as s:
        row = _activity(s, activity_id)
        if row.status != "draft":
            raise ConflictError(f"activity is {row.status}; only drafts can change", where="status")
        _benefits(s, defn.benefit_ids())
        row.definition, row.name = defn.model_dump(mode="json"), defn.name
        row.template, row.version, row.updated_at = defn.template.kind, row.version + 1, utcnow()
        audit.record(
            s,
            actor=actor,
            action="activity.update",
            target_type="activity",
            target_id=activity_id,
            after={"version": row.version},
        )
        return public(row)


def transition(*, store: Store, actor: Principal, activity_id: str, action: str) -> dict[str, Any]:
    """Maker-checker: the approver must differ from whoever submitted."""
    if action not in TRANSITIONS:
        raise InvalidInputError(f"unknown action {action}", where="action")
    sources, target, perm = TRANSITIONS[action]
    if not actor.can(perm):
        raise ForbiddenError(f"{action} needs permission {perm}", where="action")
    with store.session() as s:
        row = s.execute(
            select(ActivityRow).where(ActivityRow.activity_id == activity_id).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no activity {activity_id}", where="activity_id")
        if row.status not in sources:
            raise ConflictError(f"cannot {action} an activity that is {row.status}", where="status")
        if action == "approve" and actor.id == row.submitted_by:
            raise ForbiddenError("the submitter cannot approve their own activity", where="action")
        before = row.status
        row.status, row.updated_at = target, utcnow()
        if action == "submit":
            row.submitted_by = actor.id
        if action == "approve":
            row.approved_by = actor.id
        audit.record(
            s,
            actor=actor,
            action=f"activity.{action}",
            target_type="activity",
            target_id=activity_id,
            before={"status": before},
            after={"status": target},
        )
        return public(row)


def public(row: ActivityRow) -> dict[str, Any]:
    return {
        "id": row.activity_id,
        "name": row.name,
        "template": row.template,
        "status": row.status,
        "version": row.version,
        "created_by": row.created_by,
        "submitted_by": row.submitted_by,
        "approved_by": row.approved_by,
        "definition": row.definition,
    }


def get_activity(*, store: Store, activity_id: str) -> dict[str, Any]:
    with store.session() as s:
        return public(_activity(s, activity_id))


def list_activities(*, store: Store, status: str | None = None) -> list[dict[str, Any]]:
    with store.session() as s:
        q = select(ActivityRow).order_by(ActivityRow.created_at.desc())
        if status:
            q = q.where(ActivityRow.status == status)
        return [public(r) for r in s.execute(q.limit(500)).scalars()]


# ---- participation -----------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    customer_id: int
    action: str | None = None
    device_id: str | None = None
    ip: str | None = None
    channel: str | None = None
    phone_prefix: str | None = None
    invite_code: str | None = None
    request_id: str | None = None
    opened_on: date | None = None
    last_active_on: date | None = None
    challenge_passed: bool = False


@dataclass(frozen=True)
class Outcome:
    outcome: str  # issued | no_prize | checked_in | invited | accepted | rewarded | …
    unit_ids: tuple[str, ...] = ()
    detail: str | None = None
    invite_code: str | None = None
    risk: dict[str, Any] | None = None


def invite_code(activity_id: str, customer_id: int) -> str:
    tag = hashlib.sha256(f"{activity_id}:{customer_id}".encode()).hexdigest()[:6]
    return f"{customer_id:x}-{tag}"


def _inviter(activity_id: str, code: str) -> int:
    try:
        cid = int(code.split("-", 1)[0], 16)
    except ValueError:
        raise InvalidInputError("malformed invite code", where="invite_code") from None
    if invite_code(activity_id, cid) != code:
        raise InvalidInputError("unknown invite code", where="invite_code")
    return cid


def participate(*, rt: Runtime, activity_id: str, req: Request) -> Outcome:
    """One customer action in a running activity, after eligibility and risk checks."""
    row, defn, benefits = rt.load(activity_id)
    now = rt.clock()
    _check_open(row, defn, now)
    _check_eligible(rt, row, defn, benefits, req)
    in_cycle, invites, inviter = False, 0, None
    accept = isinstance(defn.template, Referral) and req.action == "accept"
    if accept:
        inviter = _inviter(activity_id, req.invite_code or "")
    if accept and rt.graph is not None and isinstance(rt.windows, RedisWindows):
        assert inviter is not None  # windows and graph facts in one Lua call, no SQL
        attempt = _attempt(activity_id, req, now, False, 0)
        counts, in_cycle, invites = rt.graph.facts(rt.windows, attempt, inviter)
        attempt = _attempt(activity_id, req, now, in_cycle, invites)
        verdict = evaluate(attempt, defn.risk, counts=counts, lists=rt.lists.lookup(attempt))
    else:
        if accept:
            assert inviter is not None
            in_cycle, invites = _graph(rt, activity_id, inviter, req.customer_id)
        attempt, verdict = _assess(rt, activity_id, defn, req, now, in_cycle, invites)
    if _refused(verdict, req):
        risk = _record_decision(rt, attempt, verdict.action, verdict.score, verdict.fired)
        return Outcome(verdict.action, detail="risk control", risk=risk)
    return _run_template(rt, row, defn, benefits, req, now, inviter)


async def participate_async(*, rt: Runtime, activity_id: str, req: Request) -> Outcome:
    """:func:`participate` for an event loop (the lean ASGI path).

    A coupon drop on the Redis path runs here without a thread: the activity from the
    process cache, the risk windows (one Lua call) and lists (cached), then the grab
    (one Lua call) and its group commit. Anything that reads the SQL store (a stale
    cache, a refused attempt's decision row, other templates, the SQL-only path) runs
    in a worker thread. Once a coupon drop's shared stock or budget refused, this
    process answers ``exhausted`` for a moment without risk windows or counters
    (:mod:`opsloop.activity.soldout`): nothing can be issued, so nothing is risked.
    """
    loaded = rt.peek(activity_id)
    if loaded is None:
        loaded = await asyncio.to_thread(rt.load, activity_id)
    row, defn, benefits = loaded
    t = defn.template
    if not isinstance(t, CouponDrop):
        return await asyncio.to_thread(participate, rt=rt, activity_id=activity_id, req=req)
    now = rt.clock()
    _check_open(row, defn, now)
    for e in _rules(defn, benefits):
        if rt.audience is not None and rt.audience.stale(activity_id, row.version, e):
            await asyncio.to_thread(rt.audience.refresh, activity_id, row.version, e)
    _check_eligible(rt, row, defn, benefits, req)
    # A retry (request_id) asks the counters: its first attempt may have been issued.
    gone = None if req.request_id else rt.sold_out.where(activity_id, now)
    if gone is not None:
        return Outcome("exhausted", detail=gone)
    try:
        if rt.grabber is None:
            out = await asyncio.to_thread(participate, rt=rt, activity_id=activity_id, req=req)
        else:
            out = await _grab(rt, activity_id, defn, t, benefits, req, now)
    except BaseException:
        rt.sold_out.settle(activity_id)  # if this one was asking for the others: ask again
        raise
    rt.sold_out.mark(activity_id, out.detail if out.outcome == "exhausted" else None)
    return out


async def _grab(
    rt: Runtime,
    activity_id: str,
    defn: ActivityDefinition,
    t: CouponDrop,
    benefits: dict[str, BenefitDef],
    req: Request,
    now: datetime,
) -> Outcome:
    """The Redis coupon grab on the event loop: windows, verdict, Lua charge, commit."""
    assert rt.grabber is not None
    if rt.lists.stale():
        await asyncio.to_thread(rt.lists.reload)
    attempt = _attempt(activity_id, req, now, False, 0)
    if isinstance(rt.windows, RedisWindows):
        counts = await rt.windows.hit_async(attempt)
    else:
        counts = await asyncio.to_thread(rt.windows.hit, attempt)
    verdict = evaluate(attempt, defn.risk, counts=counts, lists=rt.lists.lookup(attempt))
    if _refused(verdict, req):
        risk = await asyncio.to_thread(
            _record_decision, rt, attempt, verdict.action, verdict.score, verdict.fired
        )
        return Outcome(verdict.action, detail="risk control", risk=risk)
    try:
        unit, _dup = await rt.grabber.grab(
            benefits[t.benefit_id],
            activity_id=activity_id,
            activity_budget_cents=defn.budget_cents,
            customer_id=req.customer_id,
            now=now,
            request_id=req.request_id,
            action=t.kind,
        )
    except ExhaustedError as exc:
        return Outcome("exhausted", detail=exc.where)
    return Outcome("issued", (unit,))


def _check_open(row: ActivityRow, defn: ActivityDefinition, now: datetime) -> None:
    if row.status != "running":
        raise ConflictError(f"activity is {row.status}", where="status")
    if not (defn.starts_at <= now < defn.ends_at):
        raise ConflictError("outside the activity's time window", where="starts_at")


def _refused(verdict: Verdict, req: Request) -> bool:
    return verdict.action == "block" or (verdict.action == "challenge" and not req.challenge_passed)


def _assess(
    rt: Runtime,
    activity_id: str,
    defn: ActivityDefinition,
    req: Request,
    now: datetime,
    in_cycle: bool,
    invites: int,
) -> tuple[Attempt, Verdict]:
    attempt = _attempt(activity_id, req, now, in_cycle, invites)
    verdict = evaluate(
        attempt, defn.risk, counts=rt.windows.hit(attempt), lists=rt.lists.lookup(attempt)
    )
    return attempt, verdict


def _attempt(
    activity_id: str, req: Request, now: datetime, in_cycle: bool, invites: int
) -> Attempt:
    return Attempt(
        activity_id,
        req.customer_id,
        now,
        req.device_id,
        req.ip,
        req.phone_prefix,
        req.opened_on,
        req.last_active_on,
        in_cycle,
        invites,
    )


def _rules(defn: ActivityDefinition, benefits: dict[str, BenefitDef]) -> list[Eligibility]:
    """The activity's eligibility, and for a one-benefit template the benefit's too."""
    t = defn.template
    rules = [defn.eligibility]
    if isinstance(t, CouponDrop | QuotaTest) and t.benefit_id in benefits:
        rules.append(benefits[t.benefit_id].eligibility)
    return rules


def _check_eligible(
    rt: Runtime,
    row: ActivityRow,
    defn: ActivityDefinition,
    benefits: dict[str, BenefitDef],
    req: Request,
) -> None:
    for e in _rules(defn, benefits):
        eligibility.check(
            e,
            audience=rt.audience,
            activity_id=row.activity_id,
            version=row.version,
            customer_id=req.customer_id,
            channel=req.channel,
        )


_RING = text(
    """
    WITH RECURSIVE up(node, depth) AS (
      SELECT inviter_id, 1 FROM activity_referrals
       WHERE activity_id = :aid AND invitee_id = :inviter
      UNION ALL
      SELECT r.inviter_id, up.depth + 1 FROM activity_referrals r
        JOIN up ON r.activity_id = :aid AND r.invitee_id = up.node
       WHERE up.depth < 64
    )
    SELECT (SELECT count(*) FROM up WHERE node = :invitee),
           (SELECT count(*) FROM activity_referrals
             WHERE activity_id = :aid AND inviter_id = :inviter)
    """
)


def _graph(rt: Runtime, activity_id: str, inviter: int, invitee: int) -> tuple[bool, int]:
    """Does inviter → invitee close a loop, and how many invitees has the inviter?

    One query: a recursive walk up the inviter's chain (64 hops at most, so a ring
    already in the graph cannot loop it) and the inviter's fan-out. It runs outside a
    transaction (a single read): no BEGIN/COMMIT round trips around 0.2 ms of work.
    """
    args = {"aid": activity_id, "inviter": inviter, "invitee": invitee}
    conn = rt.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with conn:
        ancestors_hit, invites = conn.execute(_RING, args).one()
    return inviter == invitee or int(ancestors_hit) > 0, int(invites)


def referral_edges(store: Store, activity_id: str) -> list[tuple[int, int]]:
    """``(invitee, inviter)`` of every accepted invite: what the Redis graph is seeded from."""
    with store.session() as s:
        rows = s.execute(
            select(ReferralRow.invitee_id, ReferralRow.inviter_id).where(
                ReferralRow.activity_id == activity_id
            )
        ).all()
    return [(int(b), int(a)) for b, a in rows]


def _record_decision(
    rt: Runtime, a: Attempt, action: str, score: int, fired: tuple[Any, ...]
) -> dict[str, Any]:
    rules = {"fired": [f.__dict__ for f in fired]}
    with rt.store.session() as s:
        d = RiskDecision(
            activity_id=a.activity_id,
            customer_id=a.customer_id,
            device_id=a.device_id,
            ip=a.ip,
            action=action,
            score=score,
            rules=rules,
            status="open",
            at=a.at,
        )
        s.add(d)
        s.flush()
        return {"decision_id": d.id, "action": action, "score": score} | rules


def _issue(
    rt: Runtime,
    defn: ActivityDefinition,
    activity_id: str,
    b: BenefitDef,
    cid: int,
    key: str,
    *,
    fresh_key: bool = False,
    action: str | None = None,
) -> str:
    """Issue one unit; with ``action`` its participation is recorded in the same commit."""
    now = rt.clock()

    def participation(unit_id: str) -> list[object]:
        if action is None:
            return []
        day = now.date().isoformat()
        return [
            Participation(
                activity_id=activity_id,
                customer_id=cid,
                action=action,
                day=day,
                outcome="issued",
                unit_id=unit_id,
                at=now,
            )
        ]

    return ledger.issue(
        rt.store,
        counters=rt.counters,
        benefit=b,
        activity_id=activity_id,
        customer_id=cid,
        now=now,
        idem_key=key,
        activity_budget_cents=defn.budget_cents,
        fresh_key=fresh_key,
        also=participation,
    ).unit_id


def _record(
    rt: Runtime,
    aid: str,
    cid: int,
    action: str,
    outcome: str,
    unit: str | None,
    now: datetime,
    dedupe: str | None = None,
) -> None:
    with rt.store.session() as s:
        s.add(
            Participation(
                activity_id=aid,
                customer_id=cid,
                action=action,
                day=now.date().isoformat(),
                outcome=outcome,
                unit_id=unit,
                dedupe=dedupe,
                at=now,
            )
        )


def _once(rt: Runtime, aid: str, cid: int, action: str, now: datetime, dedupe: str) -> bool:
    """Claim a once-only slot (a day's check-in, the n-th draw); False if taken."""
    try:
        _record(rt, aid, cid, action, "pending", None, now, dedupe)
    except IntegrityError:
        return False
    return True


def _finish(rt: Runtime, dedupe: str, outcome: str, unit: str | None) -> None:
    with rt.store.session() as s:
        s.execute(
            update(Participation)
            .where(Participation.dedupe == dedupe)
            .values(outcome=outcome, unit_id=unit)
        )


def _run_template(
    rt: Runtime,
    row: ActivityRow,
    defn: ActivityDefinition,
    benefits: dict[str, BenefitDef],
    req: Request,
    now: datetime,
    inviter: int | None,
) -> Outcome:
    t, aid, cid, day = defn.template, row.activity_id, req.customer_id, now.date().isoformat()
    rid = req.request_id or uuid.uuid4().hex
    try:
        if isinstance(t, CouponDrop | QuotaTest):
            drop = isinstance(t, CouponDrop)
            key = f"{aid}:{cid}:{rid}" if drop else f"quota:{aid}:{cid}"
            fresh = drop and req.request_id is None
            unit = _issue(
                rt, defn, aid, benefits[t.benefit_id], cid, key, fresh_key=fresh, action=t.kind
            )
            return Outcome("issued", (unit,))
        if isinstance(t, SignIn):
            return _sign_in(rt, defn, t, benefits, aid, cid, now)
        if isinstance(t, LuckyDraw):
            return _draw(rt, defn, t, benefits, aid, cid, now, day)
        if isinstance(t, Task):
            task = next((x for x in t.tasks if x.action == req.action), None)
            if task is None:
                raise InvalidInputError("not a task of this activity", where="action")
            key = f"task:{aid}:{cid}:{task.action}"
            unit = _issue(rt, defn, aid, benefits[task.benefit_id], cid, key, action=task.action)
            return Outcome("issued", (unit,))
        return _referral(rt, defn, t, benefits, aid, req, now, inviter)
    except ExhaustedError as e:
        return Outcome("exhausted", detail=e.where)


def _sign_in(
    rt: Runtime,
    defn: ActivityDefinition,
    t: SignIn,
    benefits: dict[str, BenefitDef],
    aid: str,
    cid: int,
    now: datetime,
) -> Outcome:
    dedupe = f"signin:{aid}:{cid}:{now.date().isoformat()}"
    if not _once(rt, aid, cid, "sign_in", now, dedupe):
        return Outcome("already_checked_in")
    with rt.store.session() as s:
        days = set(
            s.execute(
                select(Participation.day)
                .where(
                    Participation.activity_id == aid,
                    Participation.customer_id == cid,
                    Participation.action == "sign_in",
                )
                .order_by(Participation.day.desc())
                .limit(400)
            ).scalars()
        )
    streak, d = 0, now.date()
    while d.isoformat() in days:
        streak += 1
        d = date.fromordinal(d.toordinal() - 1)
    n = (streak - 1) % t.cycle_days + 1
    reward = next((r for r in t.rewards if r.day == n), None)
    unit = None
    if reward is not None:
        try:
            unit = _issue(rt, defn, aid, benefits[reward.benefit_id], cid, dedupe)
        except ExhaustedError:
            unit = None
    _finish(rt, dedupe, "checked_in", unit)
    return Outcome("checked_in", (unit,) if unit else (), detail=f"streak day {n}")


def _draw(
    rt: Runtime,
    defn: ActivityDefinition,
    t: LuckyDraw,
    benefits: dict[str, BenefitDef],
    aid: str,
    cid: int,
    now: datetime,
    day: str,
) -> Outcome:
    for k in range(t.draws_per_day):
        dedupe = f"draw:{aid}:{cid}:{day}:{k}"
        if _once(rt, aid, cid, "draw", now, dedupe):
            break
    else:
        return Outcome("no_draws_left")
    # Seeded per draw (secret per-process seed): reproducible in tests, unguessable live.
    roll = random.Random(f"{rt.seed}:{dedupe}").random()  # noqa: S311
    acc = 0.0
    for prize in t.prizes:
        acc += prize.probability
        if roll < acc:
            try:
                unit = _issue(rt, defn, aid, benefits[prize.benefit_id], cid, dedupe)
            except ExhaustedError:
                break  # the prize ran out: no prize
            _finish(rt, dedupe, "won", unit)
            return Outcome("issued", (unit,), detail=prize.benefit_id)
    _finish(rt, dedupe, "no_prize", None)
    return Outcome("no_prize")


def _referral(
    rt: Runtime,
    defn: ActivityDefinition,
    t: Referral,
    benefits: dict[str, BenefitDef],
    aid: str,
    req: Request,
    now: datetime,
    inviter: int | None,
) -> Outcome:
    cid = req.customer_id
    if req.action == "invite":
        _record(rt, aid, cid, "invite", "invited", None, now)
        return Outcome("invited", invite_code=invite_code(aid, cid))
    if req.action == "accept":
        assert inviter is not None
        if inviter == cid:
            raise InvalidInputError("cannot accept one's own invite", where="invite_code")
        with rt.store.session() as s:
            n = s.execute(
                select(func.count()).where(
                    ReferralRow.activity_id == aid, ReferralRow.inviter_id == inviter
                )
            ).scalar_one()
            if n >= t.max_invites:
                return Outcome("exhausted", detail="max_invites")
        try:
            with rt.store.session() as s:
                s.add(
                    ReferralRow(
                        activity_id=aid, invitee_id=cid, inviter_id=inviter, rewarded=False, at=now
                    )
                )
        except IntegrityError:
            return Outcome("already_invited")
        if rt.graph is not None:
            rt.graph.add(aid, inviter, cid)
        _record(rt, aid, cid, "accept", "accepted", None, now)
        return Outcome("accepted")
    if req.action == t.qualifying_action:
        with rt.store.session() as s:
            res = s.execute(
                update(ReferralRow)
                .where(
                    ReferralRow.activity_id == aid,
                    ReferralRow.invitee_id == cid,
                    ReferralRow.rewarded.is_(False),
                )
                .values(rewarded=True)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return Outcome("not_qualifying")
            inv = s.get(ReferralRow, (aid, cid))
            assert inv is not None
            inviter_id = inv.inviter_id
        units = (
            _issue(rt, defn, aid, benefits[t.invitee_benefit_id], cid, f"mgm:{aid}:{cid}:invitee"),
            _issue(
                rt,
                defn,
                aid,
                benefits[t.inviter_benefit_id],
                inviter_id,
                f"mgm:{aid}:{cid}:inviter",
            ),
        )
        _record(rt, aid, cid, req.action, "rewarded", units[0], now)
        return Outcome("rewarded", units)
    raise InvalidInputError(
        "action must be invite, accept or the qualifying action", where="action"
    )


# ---- risk review, stats ------------------------------------------------------------


def list_decisions(
    *,
    store: Store,
    status: str | None,
    limit: int = 100,
    wh: Warehouse | None = None,
    principal: Principal | None = None,
) -> list[dict[str, Any]]:
    """Newest decisions; with a principal, only those about customers in their scope."""
    scoped = principal is not None and wh is not None and not principal.bank_wide
    with store.session() as s:
        q = (
            select(RiskDecision)
            .order_by(RiskDecision.id.desc())
            .limit(limit * (10 if scoped else 1))
        )
        if status:
            q = q.where(RiskDecision.status == status)
        rows = [_decision(d) for d in s.execute(q).scalars()]
    if scoped:
        assert wh is not None and principal is not None
        ok = activity_scope.visible(wh, principal, (r["customer_id"] for r in rows))
        rows = [r for r in rows if r["customer_id"] in ok]
    return rows[:limit]


def _decision(d: RiskDecision) -> dict[str, Any]:
    return {
        "id": d.id,
        "activity_id": d.activity_id,
        "customer_id": d.customer_id,
        "device_id": d.device_id,
        "ip": d.ip,
        "action": d.action,
        "score": d.score,
        "rules": d.rules,
        "status": d.status,
        "reviewed_by": d.reviewed_by,
        "at": as_utc(d.at).isoformat(),
    }


def release_decision(
    *, rt: Runtime, actor: Principal, decision_id: int, wh: Warehouse | None = None
) -> dict[str, Any]:
    """Staff release: the customer may take part in that activity again, unscored.

    With ``wh``, a decision about a customer outside the actor's scope is not found.
    """
    with rt.store.session() as s:
        d = s.get(RiskDecision, decision_id)
        if d is None or (
            wh is not None
            and d.customer_id not in activity_scope.visible(wh, actor, [d.customer_id])
        ):
            raise NotFoundError(f"no decision {decision_id}", where="decision_id")
        if d.status != "open":
            raise ConflictError("decision is already released", where="status")
        d.status, d.reviewed_by = "released", actor.id
        value = f"{d.activity_id}:{d.customer_id}"
        if s.get(RiskListEntry, ("release", value)) is None:
            s.add(
                RiskListEntry(
                    dimension="release",
                    value=value,
                    list_kind="white",
                    reason=f"decision {decision_id}",
                )
            )
        audit.record(
            s,
            actor=actor,
            action="risk.release",
            target_type="risk_decision",
            target_id=str(decision_id),
            after={"customer_id": d.customer_id},
        )
        out = _decision(d)
    rt.lists.invalidate()
    return out


def set_list(
    *, rt: Runtime, actor: Principal, dimension: str, value: str, kind: str | None
) -> None:
    """Put a value on the black/grey list, or take it off (``kind=None``)."""
    with rt.store.session() as s:
        entry = s.get(RiskListEntry, (dimension, value))
        if kind is None:
            if entry is not None:
                s.delete(entry)
        elif entry is None:
            s.add(RiskListEntry(dimension=dimension, value=value, list_kind=kind))
        else:
            entry.list_kind = kind
        audit.record(
            s,
            actor=actor,
            action="risk.list",
            target_type=dimension,
            target_id=value,
            after={"list": kind},
        )
    rt.lists.invalidate()


def expire_due(*, store: Store, now: datetime, actor: Principal, batch: int = 1000) -> int:
    """Expire every live unit whose validity ended by ``now`` (the scheduled sweep).

    Idempotent: a second run at the same ``now`` expires nothing. Each batch commits
    with one audit entry naming how many units it expired.
    """
    total = 0
    while True:
        with store.session() as s:
            n = ledger.expire_due(s, now=now, limit=batch)
            if n:
                audit.record(
                    s,
                    actor=actor,
                    action="benefit.expire",
                    target_type="benefit_units",
                    target_id=now.isoformat(),
                    after={"expired": n},
                )
        total += n
        if n == 0:
            return total


def stats(*, store: Store, activity_id: str) -> dict[str, Any]:
    """Cost and reach of one activity, from the ledger (for Monitoring's ROI)."""
    with store.session() as s:
        row = _activity(s, activity_id)
        bal = ledger.balances(s, activity_id=activity_id)
        participants = s.execute(
            select(func.count(func.distinct(Participation.customer_id))).where(
                Participation.activity_id == activity_id
            )
        ).scalar_one()
        blocked = s.execute(
            select(RiskDecision.action, func.count())
            .where(RiskDecision.activity_id == activity_id)
            .group_by(RiskDecision.action)
        ).all()
    return {
        "activity_id": activity_id,
        "status": row.status,
        "participants": int(participants),
        "issued": bal.issued,
        "issued_cost_cents": bal.budget_used_cents,
        "redeemed": bal.redeemed,
        "redeemed_cents": bal.redeemed_cents,
        "expired": bal.expired,
        "revoked": bal.revoked,
        "risk": {a: int(n) for a, n in blocked},
    }
