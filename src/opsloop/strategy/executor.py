"""The set-based journey executor: whole audiences move through nodes as numpy columns.

A pass takes a cohort (customer ids, visit numbers, where each one is) and pushes it
through the graph node by node — one vectorised decision per node, one warehouse
query per node that needs data — until every customer rests at a wait, an exit or
the end. The resting places, the action steps and the node counts are then written
in **one transaction per chunk**, so a crash loses the chunk whole and a rerun
recomputes it identically: time, control-group and A/B hashing come from the
injected :class:`RunContext`, never from the wall clock or a random generator.

Idempotency: entries are unique per (journey, customer, entry key); action steps are
unique per (journey, version, node, customer, visit) and claimed with ``INSERT … ON
CONFLICT DO NOTHING RETURNING`` before anything is sent, so a step another worker or
an earlier run already took is never repeated.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, case, func, select, tuple_, update
from sqlalchemy import delete as delete_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsloop.strategy import bulk
from opsloop.strategy.calendar import BusinessCalendar
from opsloop.strategy.data import CustomerData
from opsloop.strategy.journey import ENTRY_KINDS, JourneyDefinition, branches
from opsloop.strategy.models import CustomerState, NodeStat, StepRow
from opsloop.strategy.policy import (
    CAPPED,
    CONSENT_COLUMN,
    OK,
    QUIET_EXPIRED,
    ContactCounters,
    ContactPolicy,
    cap_keys,
    eligible,
    in_hash_share,
    quiet_until,
    unit_hash,
)
from opsloop.strategy.ports import ActionSink, BenefitIssuer, MessageSink, StepBatch

Ids = npt.NDArray[np.int64]
Idx = npt.NDArray[np.intp]
EXHAUSTED = "exhausted"  # a benefit's stock, budget or per-customer limit refused it


@dataclass(frozen=True)
class RunContext:
    """Everything a run may not take from the world itself (replayable)."""

    now: dt.datetime
    entry_key: str
    policy: ContactPolicy = field(default_factory=ContactPolicy)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)


@dataclass(frozen=True)
class Ports:
    messages: MessageSink
    benefits: BenefitIssuer
    actions: ActionSink
    counters: ContactCounters


@dataclass
class Cohort:
    """Columns of the customers in one pass (one row per customer visit)."""

    ids: Ids
    visits: npt.NDArray[np.int64]
    since: npt.NDArray[Any]  # datetime64[us], UTC: arrival at the current node
    deadline: npt.NDArray[Any]  # datetime64[us] or NaT: on_blocked wait deadline
    arm: npt.NDArray[np.object_]
    state_id: npt.NDArray[np.int64]  # 0: not stored yet
    node: npt.NDArray[np.object_] = field(init=False)
    status: npt.NDArray[np.object_] = field(init=False)
    due: npt.NDArray[Any] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.node = np.full(n, "", dtype=object)
        self.status = np.full(n, "", dtype=object)
        self.due = np.full(n, np.datetime64("NaT", "us"))


def _ts(at: dt.datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "us")


def _py(v: np.datetime64) -> dt.datetime | None:
    if np.isnat(v):
        return None
    return v.astype("datetime64[us]").astype(dt.datetime).replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


@dataclass
class PassResult:
    stats: Counter[tuple[str, str]]
    steps: int = 0


class JourneyPass:
    """Moves one cohort through one journey version within one transaction."""

    def __init__(
        self,
        journey: JourneyDefinition,
        *,
        data: CustomerData,
        ports: Ports,
        ctx: RunContext,
        session: Session,
    ) -> None:
        self.j, self.data, self.ports, self.ctx, self.s = journey, data, ports, ctx, session
        self.now = _ts(ctx.now)
        self.index = {n.id: i for i, n in enumerate(journey.nodes)}
        self.stats: Counter[tuple[str, str]] = Counter()
        self.fresh = False  # set by a first pass: every visit is new in this transaction
        # (node, outcome, reason) already claimed by a plain insert in this transaction:
        # the customers of one reason are disjoint from another's, and a second cohort
        # reaching the same node (a merge) takes the guarded path
        self._claimed: set[tuple[str, str, str]] = set()

    # -- driving ---------------------------------------------------------------------
    def run(self, c: Cohort, starts: dict[str, Idx], *, resumed: bool) -> PassResult:
        queue: list[tuple[str, Idx, bool]] = [(n, i, resumed) for n, i in starts.items()]
        while queue:
            node_id, idx, again = queue.pop(0)
            # cohorts already waiting for the same node (two A/B arms, a merge) go in
            # together: one visit — one statement per write — instead of one per path
            same = [q for q in queue if q[0] == node_id and q[2] == again]
            if same:
                queue = [q for q in queue if not (q[0] == node_id and q[2] == again)]
                idx = np.sort(np.concatenate([idx, *(q[1] for q in same)]))
            if not len(idx):
                continue
            node = self.j.node(node_id)
            if not again:
                self.stats[(node_id, "entered")] += len(idx)
                c.since[idx] = self.now
                c.deadline[idx] = np.datetime64("NaT", "us")
            c.node[idx] = node_id
            outs = self.visit(node, c, idx, again)
            nxt = self.j.next_of(node_id)
            for branch, sub in outs.items():
                if not len(sub):
                    continue
                self.stats[(node_id, f"branch:{branch}")] += len(sub)
                target = nxt.get(branch)
                if target is None:
                    c.status[sub] = "done"
                    c.due[sub] = np.datetime64("NaT", "us")
                    self.stats[(node_id, "exited")] += len(sub)
                else:
                    queue.append((target, sub, False))
        return PassResult(self.stats)

    def _wait(self, c: Cohort, idx: Idx, due: Any) -> dict[str, Idx]:
        c.status[idx] = "waiting"
        c.due[idx] = due
        self.stats[(c.node[idx[0]], "waiting")] += len(idx)
        return {}

    def _stop(self, c: Cohort, idx: Idx, status: str) -> dict[str, Idx]:
        c.status[idx] = status
        c.due[idx] = np.datetime64("NaT", "us")
        self.stats[(c.node[idx[0]], status)] += len(idx)
        return {}

    # -- nodes -----------------------------------------------------------------------
    def visit(self, node: Any, c: Cohort, idx: Idx, again: bool) -> dict[str, Idx]:
        kind, cfg = node.kind, node.config
        where = f"nodes[{self.index[node.id]}].config"
        if kind in ENTRY_KINDS or kind == "merge":
            return {"next": idx}
        if kind == "exit":
            return self._stop(c, idx, "exited")
        if kind == "condition":
            yes = self.data.condition(cfg.condition, f"{where}.condition", c.ids[idx])
            return {"yes": idx[yes], "no": idx[~yes]}
        if kind == "attribute_split":
            if cfg.tag is not None:
                vals = self.data.tag(cfg.tag, c.ids[idx])
            else:
                vals = self.data.attribute(cfg.field, c.ids[idx])
            left = np.ones(len(idx), dtype=bool)
            out: dict[str, Idx] = {}
            for case in cfg.cases:
                m = left & np.isin(vals, np.array(case.values, dtype=object))
                out[case.branch] = idx[m]
                left &= ~m
            out["other"] = idx[left]
            return out
        if kind == "ab_split":
            return self._ab(node, c, idx)
        if kind == "score_split":
            s = self.data.scores(cfg.model, c.ids[idx])
            left = np.ones(len(idx), dtype=bool)
            out = {}
            for band in cfg.bands:
                m = left & (s >= band.low) & (s < band.high)
                out[band.branch] = idx[m]
                left &= ~m
            out["other"] = idx[left]
            return out
        if kind == "wait":
            return {"next": idx} if again else self._wait(c, idx, self._wait_due(cfg))
        if kind == "quiet_hours":
            if again:
                return {"next": idx}
            end = self._quiet_end(cfg.start, cfg.end)
            return {"next": idx} if end is None else self._wait(c, idx, _ts(end))
        if kind == "wait_event":
            if not again:
                return self._wait(c, idx, self.now + np.timedelta64(cfg.timeout.seconds(), "s"))
            since = c.since[idx]
            last = self.ports_last_event(cfg.event, c.ids[idx], since)
            hit = ~np.isnat(last) & (last >= since)
            due = since + np.timedelta64(cfg.timeout.seconds(), "s") <= self.now
            timeout = ~hit & due
            rest = idx[~hit & ~due]
            if len(rest):
                c.status[rest] = "waiting"
                c.due[rest] = c.since[rest] + np.timedelta64(cfg.timeout.seconds(), "s")
            return {"event": idx[hit], "timeout": idx[timeout]}
        if kind == "frequency_cap":
            bucket = int(self.now.astype("datetime64[s]").astype(np.int64)) // cfg.per.seconds()
            prefix = f"jcap/{self.j.id}/{node.id}/{bucket}/"
            ok = self.ports.counters.reserve(self.s, c.ids[idx], [(prefix, cfg.max)])
            return {"pass": idx[ok], "capped": idx[~ok]}
        if kind == "send_message":
            return self._send(node, c, idx)
        return self._act(node, c, idx)

    def ports_last_event(self, step: Any, ids: Ids, since: npt.NDArray[Any]) -> npt.NDArray[Any]:
        earliest = _py(since.min())
        assert earliest is not None
        return self.data.last_event(step, ids, earliest)

    def _ab(self, node: Any, c: Cohort, idx: Idx) -> dict[str, Idx]:
        cfg = node.config
        u = unit_hash(c.ids[idx], f"{self.j.id}/{node.id}")
        out = {"holdout": idx[u < cfg.holdout]}
        weights = np.array([a.weight for a in cfg.arms], dtype=np.float64)
        edges = cfg.holdout + (1 - cfg.holdout) * np.cumsum(weights) / weights.sum()
        lo = cfg.holdout
        for arm, hi in zip(cfg.arms, edges, strict=True):
            m = (u >= lo) & (u < hi)
            out[arm.name] = idx[m]
            c.arm[idx[m]] = arm.name
            lo = hi
        c.arm[out["holdout"]] = "holdout"
        return out

    def _wait_due(self, cfg: Any) -> np.datetime64:
        now = self.ctx.now.astimezone(dt.UTC)
        if cfg.delay is not None:
            if cfg.delay.unit == "business_days":
                return _ts(self.ctx.calendar.add_business_days(now, cfg.delay.amount))
            return _ts(now + dt.timedelta(seconds=cfg.delay.seconds()))
        zone = self.ctx.policy.zone()
        local = now.astimezone(zone)
        at = dt.datetime.combine(local.date(), cfg.until, tzinfo=zone)
        if at <= local:
            at += dt.timedelta(days=1)
        if cfg.business_day:
            day = self.ctx.calendar.next_business_day(at.date())
            at = dt.datetime.combine(day, cfg.until, tzinfo=zone)
        return _ts(at)

    def _quiet_end(self, start: dt.time, end: dt.time) -> dt.datetime | None:
        from opsloop.strategy.policy import QuietRule

        policy = ContactPolicy(
            timezone=self.ctx.policy.timezone,
            quiet_hours=(QuietRule(channel="sms", start=start, end=end),),
        )
        return quiet_until(policy, "sms", self.ctx.now)

    # -- actions ---------------------------------------------------------------------
    def _claim(self, node: Any, c: Cohort, idx: Idx, outcome: str, reason: str = "") -> Idx:
        """Insert step rows; return the positions whose step was not taken before.

        On a fresh entry (``self.fresh``) every visit was created in this very
        transaction — a chunk that committed would have stored the visit's state with its
        steps, and the entry's unique key refuses a concurrent twin at commit — so no
        step of it can exist yet: a plain bulk insert, no ``RETURNING`` round trip.
        """
        if not len(idx):
            return idx
        at = bulk.timestamps(self.s, np.array([self.now]))[0]
        head = (self.j.id, self.j.version, node.id)
        if self.fresh and (node.id, outcome, reason) not in self._claimed:
            consts = dict(zip(("journey_id", "version", "node_id"), head, strict=True))
            bulk.insert_grouped(
                self.s,
                "strategy_steps",
                consts={**consts, "outcome": outcome, "reason": reason, "at": at},
                columns={"customer_id": c.ids[idx].tolist(), "visit": c.visits[idx].tolist()},
                key="customer_id",
            )
            self._claimed.add((node.id, outcome, reason))
            return idx
        rows = [
            (*head, cid, v, outcome, reason, at)
            for cid, v in zip(c.ids[idx].tolist(), c.visits[idx].tolist(), strict=True)
        ]
        got = bulk.insert_returning(
            self.s,
            "strategy_steps",
            STEP_COLUMNS,
            rows,
            tail="ON CONFLICT DO NOTHING RETURNING customer_id",
        )
        return idx[np.isin(c.ids[idx], np.array(got, dtype=np.int64))]

    def _batch(self, node: Any, c: Cohort, idx: Idx) -> StepBatch:
        columns: dict[str, npt.NDArray[Any]] = {}
        if node.kind == "rm_task":  # the task goes to the customer's RM or branch queue
            ids = c.ids[idx]
            columns = {f: self.data.attribute(f, ids) for f in ("org_path", "rm_id")}
        return StepBatch(
            self.j.id, self.j.version, node.id, c.ids[idx], c.visits[idx], self.ctx.now, columns
        )

    def _act(self, node: Any, c: Cohort, idx: Idx) -> dict[str, Idx]:
        cfg = node.config
        new = self._claim(node, c, idx, "done")
        if not len(new):
            return {"next": idx}
        b = self._batch(node, c, new)
        if node.kind != "issue_benefit":
            self.stats[(node.id, "done")] += len(new)
            self.ports.actions.record(
                self.s, b, kind=node.kind, payload=cfg.model_dump(mode="json")
            )
            return {"next": idx}
        payload = {"cost_cents": cfg.cost_cents}
        ok = self.ports.benefits.issue(self.s, b, benefit_id=cfg.benefit_id, payload=payload)
        self.stats[(node.id, "done")] += int(ok.sum())
        refused = new[~ok]
        if not len(refused):
            return {"next": idx}
        # a stock, budget or per-customer cap refused them: the node's on_blocked decides
        self.stats[(node.id, f"suppressed:{EXHAUSTED}")] += len(refused)
        waits = node.on_blocked.action == "wait"
        self._unclaim(node, c, refused, delete=waits, reason=EXHAUSTED)
        went = self._blocked(node, c, refused, EXHAUSTED)
        keep = np.setdiff1d(idx, refused, assume_unique=True)
        return {"next": np.sort(np.concatenate([keep, went]))}

    def _send(self, node: Any, c: Cohort, idx: Idx) -> dict[str, Idx]:
        cfg, policy = node.config, self.ctx.policy
        ids = c.ids[idx]
        column = CONSENT_COLUMN[cfg.channel]
        consent = (
            self.data.attribute(column, ids).astype(bool)
            if column is not None
            else np.ones(len(ids), dtype=bool)
        )
        dnd = self.data.attribute("dnd", ids).astype(bool)
        reason = eligible(marketing=cfg.marketing, consent=consent, dnd=dnd)
        go = idx[reason == OK]
        blocked: dict[str, Idx] = {r: idx[reason == r] for r in set(reason) - {OK}}
        quiet = quiet_until(policy, cfg.channel, self.ctx.now) if len(go) else None
        if quiet is not None:
            q = _ts(quiet)
            deadline = self._deadline(node, c, go)
            expired = ~np.isnat(deadline) & (deadline < q)
            blocked[QUIET_EXPIRED] = go[expired]
            held = go[~expired]
            if len(held):
                c.deadline[held] = deadline[~expired]
                self._wait(c, held, q)
            go = idx[:0]
        new = self._claim(node, c, go, "done")
        if len(new) and cfg.marketing:
            priority = policy.priorities.get(cfg.business_line, 0)
            rules = [
                (p, r.cap_for(priority)) for p, r in cap_keys(policy, cfg.channel, self.ctx.now)
            ]
            ok = self.ports.counters.reserve(self.s, c.ids[new], rules)
            capped = new[~ok]
            new = new[ok]
            if len(capped):
                waits = node.on_blocked.action == "wait"
                self._unclaim(node, c, capped, delete=waits, reason=CAPPED)
                blocked[CAPPED] = capped
        if len(new):
            self.stats[(node.id, "sent")] += len(new)
            self.stats[(node.id, "cost_cents")] += len(new) * cfg.cost_cents
            payload: dict[str, Any] = {
                "template_id": cfg.template_id,
                "business_line": cfg.business_line,
            }
            if cfg.slot is not None:  # what Reach's slot channel shows
                payload |= cfg.slot.model_dump(mode="json", exclude_none=True)
            batch = self._batch(node, c, new)
            self.ports.messages.send(self.s, batch, channel=cfg.channel, payload=payload)
        passed = [new]
        for why, sub in blocked.items():
            if not len(sub):
                continue
            self.stats[(node.id, f"suppressed:{why}")] += len(sub)
            passed.append(self._blocked(node, c, sub, why))
        return {"next": np.sort(np.concatenate(passed))}

    def _deadline(self, node: Any, c: Cohort, idx: Idx) -> npt.NDArray[Any]:
        d = c.deadline[idx].copy()
        ob = node.on_blocked
        if ob.action == "wait" and ob.deadline is not None:
            fresh = np.isnat(d)
            d[fresh] = self.now + np.timedelta64(ob.deadline.seconds(), "s")
        return d

    def _unclaim(self, node: Any, c: Cohort, idx: Idx, *, delete: bool, reason: str) -> None:
        """A refused step: marked suppressed, or removed when the customer will retry."""
        keys = [(int(cid), int(v)) for cid, v in zip(c.ids[idx], c.visits[idx], strict=True)]
        base = and_(
            StepRow.journey_id == self.j.id,
            StepRow.version == self.j.version,
            StepRow.node_id == node.id,
        )
        for start in range(0, len(keys), 2000):
            part = keys[start : start + 2000]
            cond = and_(base, tuple_(StepRow.customer_id, StepRow.visit).in_(part))
            if delete:
                self.s.execute(delete_(StepRow).where(cond))
            else:
                self.s.execute(
                    update(StepRow).where(cond).values(outcome="suppressed", reason=reason)
                )

    def _blocked(self, node: Any, c: Cohort, idx: Idx, why: str) -> Idx:
        """Apply on_blocked; return the positions that go on (skip)."""
        ob = node.on_blocked
        if ob.action == "wait" and why != QUIET_EXPIRED:
            deadline = self._deadline(node, c, idx)
            retry = self.now + np.timedelta64(86400, "s")
            over = deadline <= self.now
            stay = idx[~over]
            if len(stay):
                c.deadline[stay] = deadline[~over]
                self._wait(c, stay, np.minimum(retry, deadline[~over]))
            gone = idx[over]
            if len(gone):
                self._claim(node, c, gone, "suppressed", why)
                self._suppressed(node, c, gone, why)
                self._stop(c, gone, "exited")
            return idx[:0]
        if why not in (CAPPED, EXHAUSTED):  # those steps were claimed, then marked
            self._claim(node, c, idx, "suppressed", why)
        self._suppressed(node, c, idx, why)
        if ob.action == "skip":
            return idx
        self._stop(c, idx, "exited")
        return idx[:0]

    def _suppressed(self, node: Any, c: Cohort, idx: Idx, why: str) -> None:
        """A message refused for good goes into the contact history, with its reason."""
        if node.kind == "send_message" and len(idx):
            b = self._batch(node, c, idx)
            self.ports.messages.suppressed(self.s, b, channel=node.config.channel, reason=why)


# ---- persistence -------------------------------------------------------------------


def _dialect(session: Session) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def add_stats(
    session: Session, journey: JourneyDefinition, stats: Counter[tuple[str, str]]
) -> None:
    rows = [
        {
            "journey_id": journey.id,
            "version": journey.version,
            "node_id": n,
            "metric": m,
            "count": v,
        }
        for (n, m), v in sorted(stats.items())
        if v
    ]
    if not rows:
        return
    stmt = _dialect(session).insert(NodeStat)
    stmt = stmt.on_conflict_do_update(
        index_elements=["journey_id", "version", "node_id", "metric"],
        set_={"count": NodeStat.count + stmt.excluded.count},
    )
    session.execute(stmt, rows)


STEP_COLUMNS = (
    "journey_id",
    "version",
    "node_id",
    "customer_id",
    "visit",
    "outcome",
    "reason",
    "at",
)


def _insert_states(
    s: Session, j: JourneyDefinition, c: Cohort, entry_key: str | list[str], now: dt.datetime
) -> None:
    """The resting place of every customer of the cohort: one statement (``insert_columns``)."""
    if not len(c.ids):
        return
    at = bulk.timestamps(s, np.array([_ts(now)]))[0]
    status = np.where(c.status == "", "done", c.status).tolist()
    columns: dict[str, list[Any]] = {
        "customer_id": c.ids.tolist(), "visit": c.visits.tolist(), "node_id": c.node.tolist(),
        "status": status, "arm": c.arm.tolist(), "since": bulk.timestamps(s, c.since),
        "due_at": bulk.timestamps(s, c.due), "deadline_at": bulk.timestamps(s, c.deadline),
    }  # fmt: skip
    consts: dict[str, Any] = {"journey_id": j.id, "version": j.version, "entered_at": at}
    if isinstance(entry_key, str):
        consts["entry_key"] = entry_key
    else:
        columns["entry_key"] = entry_key
    bulk.insert_grouped(s, "strategy_states", consts=consts, columns=columns, key="customer_id")


@dataclass(frozen=True)
class EntryResult:
    candidates: int
    entered: int
    control: int
    skipped_reentry: int
    stats: dict[str, dict[str, int]]


def _nested(stats: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (n, m), v in sorted(stats.items()):
        out.setdefault(n, {})[m] = int(v)
    return out


def _previous(
    session: Session, j: JourneyDefinition, entry_key: str, ids: Ids | None = None
) -> dict[str, Ids]:
    """Customers of this journey by what the re-entry rule needs to know.

    ``ids`` (a real-time micro-batch) limits the look-up to those customers.
    """
    s = CustomerState
    query = (
        select(
            s.customer_id,
            func.max(s.visit),
            func.max(s.entered_at),
            func.max(case((s.entry_key == entry_key, 1), else_=0)),
            func.max(case((s.status == "waiting", 1), else_=0)),
        )
        .where(s.journey_id == j.id)
        .group_by(s.customer_id)
        .order_by(s.customer_id)
    )
    if ids is not None:
        query = query.where(s.customer_id.in_(ids.tolist()))
    rows = session.execute(query).all()
    if not rows:
        z = np.zeros(0, dtype=np.int64)
        return {
            "ids": z,
            "visit": z,
            "entered": np.zeros(0, "datetime64[us]"),
            "same": z,
            "active": z,
        }
    arr = list(zip(*rows, strict=True))
    return {
        "ids": np.array(arr[0], dtype=np.int64),
        "visit": np.array(arr[1], dtype=np.int64),
        "entered": np.array([_ts(x if x.tzinfo else x.replace(tzinfo=dt.UTC)) for x in arr[2]]),
        "same": np.array(arr[3], dtype=np.int64),
        "active": np.array(arr[4], dtype=np.int64),
    }


def enter(
    *,
    sessions: Callable[[], Any],
    journey: JourneyDefinition,
    entry_node: str,
    ids: Ids,
    data: CustomerData,
    ports: Ports,
    ctx: RunContext,
    chunk: int = 100_000,
    entry_keys: list[str] | None = None,
) -> EntryResult:
    """Enter ``ids`` at ``entry_node`` and run them to their first wait, in chunks.

    ``sessions()`` opens one transaction (``store.session``); each chunk commits alone.
    Rerunning with the same ``ctx.entry_key`` enters only the customers not yet entered.
    ``entry_keys`` (aligned with ``ids``; a real-time micro-batch: one event's message
    id per customer) replaces ``ctx.entry_key`` per customer.
    """
    ids, first = np.unique(ids.astype(np.int64), return_index=True)
    keys = None if entry_keys is None else np.array(entry_keys, dtype=object)[first]
    with sessions() as s:
        small = ids if keys is not None or len(ids) <= 1000 else None
        prev = _previous(s, journey, ctx.entry_key, small)
        if keys is not None and len(prev["ids"]):
            prev["same"] = _same_keys(s, journey, prev["ids"], ids, keys)
    pos = np.searchsorted(prev["ids"], ids) if len(prev["ids"]) else np.zeros(len(ids), np.intp)
    pos = np.clip(pos, 0, max(len(prev["ids"]) - 1, 0))
    known = (prev["ids"][pos] == ids) if len(prev["ids"]) else np.zeros(len(ids), dtype=bool)
    visit = np.where(known, prev["visit"][pos] if len(prev["ids"]) else 0, 0) + 1
    allowed = ~known
    mode = journey.reentry.mode
    if len(prev["ids"]) and mode != "once":
        not_same = prev["same"][pos] == 0
        idle = prev["active"][pos] == 0
        if mode == "always":
            allowed |= known & not_same & idle
        else:
            assert journey.reentry.period is not None
            period = np.timedelta64(journey.reentry.period.seconds(), "s")
            old = prev["entered"][pos] + period <= _ts(ctx.now)
            allowed |= known & not_same & idle & old
    skipped = int((~allowed).sum())
    ids, visit = ids[allowed], visit[allowed]
    keys = None if keys is None else keys[allowed]
    gc = ctx.policy.global_control
    control = in_hash_share(ids, gc.salt, gc.share)
    total: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(ids), chunk):
        part = slice(start, start + chunk)
        with sessions() as s:
            key: str | list[str] = ctx.entry_key if keys is None else keys[part].tolist()
            stats = _enter_chunk(
                s, journey, entry_node, ids[part], visit[part], control[part], data, ports, ctx, key
            )
        total += stats
    return EntryResult(
        len(allowed), int((~control).sum()), int(control.sum()), skipped, _nested(total)
    )


def _same_keys(
    session: Session, j: JourneyDefinition, known: Ids, ids: Ids, keys: npt.NDArray[np.object_]
) -> Ids:
    """Per customer of ``known``: 1 when they already entered under their own entry key."""
    st = CustomerState
    rows = session.execute(
        select(st.customer_id, st.entry_key).where(
            st.journey_id == j.id,
            st.customer_id.in_(ids.tolist()),
            st.entry_key.in_(sorted(set(keys.tolist()))),
        )
    ).all()
    pairs = {(int(c), str(k)) for c, k in rows}
    mine = dict(zip(ids.tolist(), keys.tolist(), strict=True))
    return np.array([int((int(c), mine.get(int(c))) in pairs) for c in known], dtype=np.int64)


def _cohort(ids: Ids, visits: npt.NDArray[np.int64], now: np.datetime64) -> Cohort:
    n = len(ids)
    return Cohort(
        ids=ids,
        visits=visits,
        since=np.full(n, now),
        deadline=np.full(n, np.datetime64("NaT", "us")),
        arm=np.full(n, None, dtype=object),
        state_id=np.zeros(n, dtype=np.int64),
    )


def _enter_chunk(
    s: Session,
    journey: JourneyDefinition,
    entry_node: str,
    ids: Ids,
    visits: npt.NDArray[np.int64],
    control: npt.NDArray[np.bool_],
    data: CustomerData,
    ports: Ports,
    ctx: RunContext,
    entry_key: str | list[str],
) -> Counter[tuple[str, str]]:
    jp = JourneyPass(journey, data=data, ports=ports, ctx=ctx, session=s)
    jp.fresh = True
    c = _cohort(ids, visits, jp.now)
    c.node[:] = entry_node
    c.status[control] = "control"
    jp.stats[(entry_node, "control")] += int(control.sum())
    jp.run(c, {entry_node: np.flatnonzero(~control)}, resumed=False)
    _insert_states(s, journey, c, entry_key, ctx.now)
    add_stats(s, journey, jp.stats)
    return jp.stats


def tick(
    *,
    sessions: Callable[[], Any],
    journey: JourneyDefinition,
    data: CustomerData,
    ports: Ports,
    ctx: RunContext,
    chunk: int = 100_000,
    customer_id: int | None = None,
    customer_ids: Ids | None = None,
) -> dict[str, dict[str, int]]:
    """Resume every waiting visit whose timer is due (and every event wait, to check it).

    ``customer_id`` / ``customer_ids`` limit it to those customers: the real-time path
    (one event, or a micro-batch of the event stream).
    """
    event_nodes = [n.id for n in journey.nodes if n.kind == "wait_event"]
    total: Counter[tuple[str, str]] = Counter()
    last_id = 0
    while True:
        with sessions() as s:
            st = CustomerState
            due = (st.due_at <= ctx.now) | st.node_id.in_(event_nodes)
            query = (
                select(
                    st.id,
                    st.customer_id,
                    st.visit,
                    st.node_id,
                    st.since,
                    st.deadline_at,
                    st.arm,
                    st.entered_at,
                )
                .where(st.journey_id == journey.id, st.version == journey.version)
                .where(st.status == "waiting", due, st.id > last_id)
                .order_by(st.id)
                .limit(chunk)
            )
            if customer_id is not None:
                query = query.where(st.customer_id == customer_id)
            if customer_ids is not None:
                query = query.where(st.customer_id.in_(customer_ids.tolist()))
            rows = s.execute(query).all()
            if not rows:
                break
            last_id = rows[-1][0]
            total += _resume(s, journey, rows, data, ports, ctx)
    return _nested(total)


def _resume(
    s: Session,
    journey: JourneyDefinition,
    rows: list[Any],
    data: CustomerData,
    ports: Ports,
    ctx: RunContext,
) -> Counter[tuple[str, str]]:
    cols = list(zip(*rows, strict=True))
    jp = JourneyPass(journey, data=data, ports=ports, ctx=ctx, session=s)
    c = _cohort(np.array(cols[1], dtype=np.int64), np.array(cols[2], dtype=np.int64), jp.now)
    c.state_id = np.array(cols[0], dtype=np.int64)
    c.since = np.array([_ts(x if x.tzinfo else x.replace(tzinfo=dt.UTC)) for x in cols[4]])
    c.deadline = np.array(
        [
            np.datetime64("NaT", "us")
            if x is None
            else _ts(x if x.tzinfo else x.replace(tzinfo=dt.UTC))
            for x in cols[5]
        ]
    )
    c.arm = np.array(cols[6], dtype=object)
    nodes = np.array(cols[3], dtype=object)
    live = np.ones(len(nodes), dtype=bool)
    goal = journey.goal
    if goal is not None and goal.exit_on_goal:
        entered = np.array([_ts(x if x.tzinfo else x.replace(tzinfo=dt.UTC)) for x in cols[7]])
        first = _py(entered.min())
        assert first is not None
        last = data.last_event(goal.event, c.ids, first)
        within = entered + np.timedelta64(goal.within.seconds(), "s")
        won = ~np.isnat(last) & (last >= entered) & (last <= within)
        if won.any():
            c.node[won] = nodes[won]
            c.status[won] = "converted"
            for n in np.unique(nodes[won]):
                jp.stats[(str(n), "goal_exit")] += int((nodes[won] == n).sum())
        live = ~won
    starts = {str(n): np.flatnonzero((nodes == n) & live) for n in np.unique(nodes)}
    jp.run(c, starts, resumed=True)
    updates = [
        {
            "id": int(c.state_id[i]),
            "node_id": c.node[i],
            "status": c.status[i] or "done",
            "arm": c.arm[i],
            "since": _py(c.since[i]),
            "due_at": _py(c.due[i]),
            "deadline_at": _py(c.deadline[i]),
        }
        for i in range(len(c.ids))
    ]
    s.execute(update(CustomerState), updates)
    add_stats(s, journey, jp.stats)
    return jp.stats


__all__ = [
    "Cohort",
    "EntryResult",
    "JourneyPass",
    "Ports",
    "RunContext",
    "branches",
    "enter",
    "tick",
]
