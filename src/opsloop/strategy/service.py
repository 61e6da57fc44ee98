"""Journey services: lifecycle with maker-checker approval, dry runs, statistics.

Lifecycle: draft → submitted → approved (by a different user holding
``journey:approve``: 双人复核) → running ⇄ paused → finished → archived. Editing a
journey whose latest version left draft makes a new version; customers in flight keep
the version they entered on (states carry it). Every transition is audited in the
same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsloop.access import audit
from opsloop.access.principal import Principal
from opsloop.activity import ledger
from opsloop.activity.counters import Counters, RedisCounters, SqlCounters
from opsloop.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from opsloop.insight.segments import store as segment_store
from opsloop.store import Store
from opsloop.strategy.cron import last_fire
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import EntryResult, Ports, RunContext, enter, tick
from opsloop.strategy.journey import ENTRY_KINDS, JourneyDefinition, validate_journey
from opsloop.strategy.models import CustomerState, JourneyRow, JourneyVersionRow, NodeStat
from opsloop.strategy.policy import (
    ContactCounters,
    ContactPolicy,
    RedisContactCounters,
    SqlContactCounters,
)
from opsloop.strategy.ports import RecordingChannel
from opsloop.strategy.sinks import LedgerIssuer, ReachSink
from opsloop.warehouse import Warehouse

TRANSITIONS: dict[str, tuple[set[str], str, str]] = {
    # action: (from statuses, to status, permission)
    "submit": ({"draft"}, "submitted", "journey:submit"),
    "reject": ({"submitted"}, "draft", "journey:approve"),
    "approve": ({"submitted"}, "approved", "journey:approve"),
    "launch": ({"approved", "paused"}, "running", "journey:submit"),
    "pause": ({"running"}, "paused", "journey:submit"),
    "finish": ({"running", "paused"}, "finished", "journey:submit"),
    "archive": ({"finished", "draft"}, "archived", "journey:submit"),
}


@dataclass(frozen=True)
class JourneyInfo:
    journey_id: str
    name: str
    status: str
    version: int
    running_version: int | None
    created_by: str
    submitted_by: str | None
    approved_by: str | None
    definition: dict[str, Any]


def actor_of(principal: Principal) -> str:
    """The person behind a principal: a user's API token acts as that user (``alice#token3``)."""
    return principal.id.split("#", 1)[0]


def _need(principal: Principal, perm: str) -> None:
    if not principal.can(perm):
        raise ForbiddenError(f"needs permission {perm}")


def _rows(s: Session, journey_id: str) -> tuple[JourneyRow, JourneyVersionRow]:
    j = s.get(JourneyRow, journey_id, with_for_update=True)
    if j is None:
        raise NotFoundError(f"no journey {journey_id!r}", where="journey_id")
    v = s.get(JourneyVersionRow, (journey_id, j.latest_version))
    assert v is not None
    return j, v


def _info(j: JourneyRow, v: JourneyVersionRow) -> JourneyInfo:
    return JourneyInfo(
        j.journey_id,
        j.name,
        v.status,
        v.version,
        j.running_version,
        v.created_by,
        v.submitted_by,
        v.approved_by,
        v.definition,
    )


def save_journey(
    *,
    session: Session,
    principal: Principal,
    doc: Any,
    webhook_hosts: Mapping[str, Sequence[str]] | None = None,
) -> JourneyInfo:
    """Create a journey, edit its draft, or start a new draft version of it
    (``webhook_hosts``: Reach's webhook allow-lists, checked when given)."""
    _need(principal, "journey:submit")
    defn = validate_journey(doc, webhook_hosts=webhook_hosts)
    j = session.get(JourneyRow, defn.id, with_for_update=True)
    if j is None:
        j = JourneyRow(
            journey_id=defn.id,
            name=defn.name,
            status="draft",
            latest_version=1,
            created_by=actor_of(principal),
        )
        session.add(j)
        version, action = 1, "journey.create"
    else:
        latest = session.get(JourneyVersionRow, (defn.id, j.latest_version))
        assert latest is not None
        if latest.status == "draft":
            version, action = latest.version, "journey.edit"
        else:
            version, action = j.latest_version + 1, "journey.new_version"
        j.latest_version, j.name = version, defn.name
    body = defn.model_copy(update={"version": version}).model_dump(mode="json", by_alias=True)
    row = session.get(JourneyVersionRow, (defn.id, version))
    if row is None:
        row = JourneyVersionRow(
            journey_id=defn.id,
            version=version,
            definition=body,
            status="draft",
            created_by=actor_of(principal),
        )
        session.add(row)
    else:
        row.definition = body
    session.flush()
    audit.record(
        session,
        actor=principal,
        action=action,
        target_type="journey",
        target_id=f"{defn.id}@v{version}",
    )
    return _info(j, row)


def transition(
    *, session: Session, principal: Principal, journey_id: str, action: str
) -> JourneyInfo:
    """Move the latest version through the lifecycle (refused with a reason when not allowed)."""
    if action not in TRANSITIONS:
        raise InvalidInputError(f"unknown action {action!r}", where="action")
    sources, target, perm = TRANSITIONS[action]
    _need(principal, perm)
    j, v = _rows(session, journey_id)
    if action in ("launch", "pause", "finish") and v.status not in sources and j.running_version:
        rv = session.get(JourneyVersionRow, (journey_id, j.running_version))
        if rv is not None and rv.status in sources:
            v = rv  # acting on the running version while a new draft is edited
    if v.status not in sources:
        raise ConflictError(
            f"cannot {action} a {v.status} journey (needs {' or '.join(sorted(sources))})",
            where="status",
        )
    if action == "approve" and actor_of(principal) in (v.submitted_by, v.created_by):
        raise ForbiddenError("maker-checker: the approver must not be the author or submitter")
    before = v.status
    v.status = target
    if action == "submit":
        v.submitted_by = actor_of(principal)
    if action == "approve":
        v.approved_by = actor_of(principal)
    if action == "launch":
        old = j.running_version
        if old and old != v.version:
            prev = session.get(JourneyVersionRow, (journey_id, old))
            if prev is not None and prev.status in ("running", "paused"):
                prev.status = "superseded"  # its customers in flight finish on it
        j.running_version = v.version
    j.status = target
    audit.record(
        session,
        actor=principal,
        action=f"journey.{action}",
        target_type="journey",
        target_id=f"{journey_id}@v{v.version}",
        before={"status": before},
        after={"status": target},
    )
    return _info(j, v)


def get_journey(*, session: Session, journey_id: str, version: int | None = None) -> JourneyInfo:
    j = session.get(JourneyRow, journey_id)
    if j is None:
        raise NotFoundError(f"no journey {journey_id!r}", where="journey_id")
    v = session.get(JourneyVersionRow, (journey_id, version or j.latest_version))
    if v is None:
        raise NotFoundError(f"no version {version} of {journey_id!r}", where="version")
    return _info(j, v)


def running_definition(*, session: Session, journey_id: str) -> JourneyDefinition:
    j = session.get(JourneyRow, journey_id)
    if j is None or not j.running_version:
        raise ConflictError(f"journey {journey_id!r} is not running", where="status")
    v = session.get(JourneyVersionRow, (journey_id, j.running_version))
    assert v is not None
    if v.status != "running":
        raise ConflictError(f"journey {journey_id!r} is {v.status}", where="status")
    return validate_journey(v.definition)


# ---- running, dry runs and statistics ---------------------------------------------


def entry_audience(
    defn: JourneyDefinition,
    data: WarehouseData,
    node_id: str | None = None,
    *,
    store: Store | None = None,
    principal: Principal | None = None,
) -> tuple[str, npt.NDArray[np.int64]]:
    """The segment entry node and its members: an inline segment, or a saved one from
    Insight's segment store (that the caller may see; its latest version)."""
    for n in defn.nodes:
        if n.kind == "segment_entry" and node_id in (None, n.id):
            if n.config.segment is not None:
                return n.id, data.audience(n.config.segment)
            if store is None:
                raise InvalidInputError(
                    "a saved segment needs the store", where="config.segment_id"
                )
            sid = n.config.segment_id
            assert sid is not None  # a document has the inline segment or its id
            saved = segment_store.get(store, segment_id=sid, principal=principal)
            return n.id, data.audience(saved.definition)
    if any(n.kind == "file_entry" for n in defn.nodes):
        raise InvalidInputError(
            "this journey enters customers from an uploaded file: give the ids "
            "(opsloop journey dry-run FILE.json --entry-file ids.csv, or customer_ids)",
            where="nodes",
        )
    raise InvalidInputError(
        "this journey has no segment entry; post customers to its API trigger", where="nodes"
    )


def first_entry(defn: JourneyDefinition) -> str:
    """Where given ids enter when no node is named: the document's first entry node."""
    return next(n.id for n in defn.nodes if n.kind in ENTRY_KINDS)


def _counters(redis_url: str | None) -> ContactCounters:
    return RedisContactCounters(redis_url) if redis_url else SqlContactCounters()


def recording_ports(redis_url: str | None = None) -> Ports:
    """The recording channel (dry runs, decision tests), cap counters in Redis if set."""
    rec = RecordingChannel()
    return Ports(messages=rec, benefits=rec, actions=rec, counters=_counters(redis_url))


def live_ports(redis_url: str | None = None) -> Ports:
    """Reach's outbox and Activity's ledger; with Redis, the same counters Activity uses."""
    reach = ReachSink()
    benefit_counters: Counters = (
        RedisCounters(redis_url, ledger.derived_counters) if redis_url else SqlCounters()
    )
    return Ports(
        messages=reach,
        benefits=LedgerIssuer(benefit_counters),
        actions=reach,
        counters=_counters(redis_url),
    )


def run_entry(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    defn: JourneyDefinition,
    now: dt.datetime,
    entry_key: str,
    policy: ContactPolicy,
    ids: npt.NDArray[np.int64] | None = None,
    entry_node: str | None = None,
    ports: Ports | None = None,
) -> EntryResult:
    """Enter the segment (or ``ids`` at ``entry_node``) in the caller's data scope."""
    data = WarehouseData(wh, as_of=now, principal=principal)
    if ids is None:
        entry_node, ids = entry_audience(defn, data, entry_node, store=store, principal=principal)
    else:  # given ids enter only when they are customers in the caller's scope
        entry_node = entry_node or first_entry(defn)
        if entry_node not in {n.id for n in defn.nodes if n.kind in ENTRY_KINDS}:
            raise InvalidInputError(
                f"{entry_node!r} is not an entry node of {defn.id!r}", where="entry_node"
            )
        scoped = data.customers().select("customer_id")
        allowed = wh.execute(scoped.filter(scoped.customer_id.isin([int(i) for i in ids])))
        ids = allowed.column("customer_id").to_numpy().astype(np.int64)
    return enter(
        sessions=store.session,
        journey=defn,
        entry_node=entry_node,
        ids=ids,
        data=data,
        ports=ports or live_ports(),
        ctx=RunContext(now=now, entry_key=entry_key, policy=policy),
    )


@dataclass(frozen=True)
class Forecast:
    """What a run would do today, with nothing sent and nothing stored."""

    candidates: int
    entered: int
    control: int
    nodes: dict[str, dict[str, int]]
    sent: int
    suppressed: int
    estimated_cost_cents: int


def dry_run(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    doc: Any,
    now: dt.datetime,
    policy: ContactPolicy,
    ids: npt.NDArray[np.int64] | None = None,
    entry_node: str | None = None,
) -> Forecast:
    """Run the first pass against today's data inside transactions that are rolled back.

    ``ids`` (at ``entry_node``, else the first entry) replace the segment entry's audience.
    Counters already used this period (by running journeys) count, so the forecast's
    suppression figures are what a real run would meet now. It always uses the SQL
    counters, because Redis reservations would not roll back.
    """
    defn = validate_journey(doc)

    @contextmanager
    def rollback() -> Iterator[Session]:
        s = store.sessions()
        try:
            yield s
        finally:
            s.rollback()
            s.close()

    data = WarehouseData(wh, as_of=now, principal=principal)
    if ids is None:
        entry_node, ids = entry_audience(defn, data, store=store, principal=principal)
    elif entry_node is None:
        entry_node = first_entry(defn)
    res = enter(
        sessions=rollback,
        journey=defn,
        entry_node=entry_node,
        ids=ids,
        data=data,
        ports=recording_ports(),
        ctx=RunContext(now=now, entry_key=f"dry-run-{now.isoformat()}", policy=policy),
    )
    sent = sum(v.get("sent", 0) for v in res.stats.values())
    suppressed = sum(
        c for v in res.stats.values() for k, c in v.items() if k.startswith("suppressed:")
    )
    cost = sum(v.get("cost_cents", 0) for v in res.stats.values())
    return Forecast(res.candidates, res.entered, res.control, res.stats, sent, suppressed, cost)


def journey_stats(*, session: Session, journey_id: str) -> dict[str, Any]:
    """Per version and node: entered, branches, sent, suppressed by reason, waiting; arms."""
    stats = session.execute(
        select(NodeStat.version, NodeStat.node_id, NodeStat.metric, NodeStat.count).where(
            NodeStat.journey_id == journey_id
        )
    ).all()
    st = CustomerState
    waiting = session.execute(
        select(st.version, st.node_id, func.count())
        .where(st.journey_id == journey_id, st.status == "waiting")
        .group_by(st.version, st.node_id)
    ).all()
    arms = session.execute(
        select(st.version, st.arm, st.status, func.count())
        .where(st.journey_id == journey_id, st.arm.is_not(None))
        .group_by(st.version, st.arm, st.status)
    ).all()
    out: dict[str, Any] = {}
    for version, node, metric, count in stats:
        out.setdefault(str(version), {"nodes": {}, "arms": {}}).setdefault("nodes", {}).setdefault(
            node, {}
        )[metric] = int(count)
    for version, node, count in waiting:
        v = out.setdefault(str(version), {"nodes": {}, "arms": {}})
        v["nodes"].setdefault(node, {})["waiting_now"] = int(count)
    for version, arm, status, count in arms:
        v = out.setdefault(str(version), {"nodes": {}, "arms": {}})
        v["arms"].setdefault(arm, {})[status] = int(count)
    return out


def arm_conversion(
    *, store: Store, wh: Warehouse, defn: JourneyDefinition, principal: Principal | None = None
) -> dict[str, dict[str, float]]:
    """Per A/B arm (and holdout): entered, converted (goal event within the window), rate."""
    if defn.goal is None:
        raise InvalidInputError("the journey has no goal to convert on", where="goal")
    with store.session() as s:
        rows = s.execute(
            select(CustomerState.customer_id, CustomerState.arm, CustomerState.entered_at).where(
                CustomerState.journey_id == defn.id, CustomerState.arm.is_not(None)
            )
        ).all()
    if not rows:
        return {}
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    arms = np.array([r[1] for r in rows], dtype=object)
    entered = np.array([np.datetime64(r[2].replace(tzinfo=None), "us") for r in rows])
    earliest = min(r[2] for r in rows)
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=dt.UTC)
    data = WarehouseData(wh, as_of=earliest, principal=principal)
    last = data.last_event(defn.goal.event, ids, earliest)
    within = np.timedelta64(defn.goal.within.seconds(), "s")
    hit = ~np.isnat(last) & (last >= entered) & (last <= entered + within)
    out: dict[str, dict[str, float]] = {}
    for arm in sorted(set(arms)):
        m = arms == arm
        n, k = int(m.sum()), int(hit[m].sum())
        out[str(arm)] = {"entered": n, "converted": k, "rate": k / n if n else 0.0}
    return out


def load_policy(home: Path) -> ContactPolicy:
    """The bank's contact policy from ``HOME/contact-policy.json`` (defaults when absent)."""
    path = home / "contact-policy.json"
    if not path.is_file():
        return ContactPolicy()
    try:
        return ContactPolicy.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(str(first["msg"]), where=f"{path}:{where}") from None


def launch(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    journey_id: str,
    now: dt.datetime,
    policy: ContactPolicy,
    redis_url: str | None = None,
) -> tuple[JourneyInfo, EntryResult | None]:
    """Start the approved version; a one-off segment entry enters its audience now."""
    with store.session() as s:
        info = transition(session=s, principal=principal, journey_id=journey_id, action="launch")
    defn = validate_journey(info.definition)
    once = [n for n in defn.nodes if n.kind == "segment_entry" and n.config.schedule == "once"]
    if not once:
        return info, None
    result = run_entry(
        store=store,
        wh=wh,
        principal=principal,
        defn=defn,
        now=now,
        entry_key=f"launch-v{defn.version}",
        policy=policy,
        ports=live_ports(redis_url),
    )
    return info, result


def tick_journey(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    journey_id: str,
    now: dt.datetime,
    policy: ContactPolicy,
    redis_url: str | None = None,
) -> dict[str, dict[str, int]]:
    """Resume due timers of every version with customers in flight (new versions leave old ones)."""
    with store.session() as s:
        versions = [
            int(v)
            for (v,) in s.execute(
                select(CustomerState.version)
                .where(CustomerState.journey_id == journey_id, CustomerState.status == "waiting")
                .distinct()
            )
        ]
        defs = {
            v: validate_journey(get_journey(session=s, journey_id=journey_id, version=v).definition)
            for v in versions
        }
        status = get_journey(session=s, journey_id=journey_id).status
    if status == "paused":
        raise ConflictError(f"journey {journey_id!r} is paused", where="status")
    out: dict[str, dict[str, int]] = {}
    with store.session() as s:
        running = running_definition(session=s, journey_id=journey_id)
    for node in running.nodes:
        if node.kind != "segment_entry" or node.config.schedule == "once":
            continue
        fired = last_fire(node.config.schedule, now, policy.zone())
        if fired is None:
            continue
        res = run_entry(
            store=store,
            wh=wh,
            principal=principal,
            defn=running,
            now=now,
            entry_key=f"cron:{fired.isoformat()}"[:64],
            policy=policy,
            entry_node=node.id,
            ports=live_ports(redis_url),
        )
        out[f"v{running.version}/{node.id}"] = {"entered": res.entered, "control": res.control}
    for v, defn in sorted(defs.items()):
        got = tick(
            sessions=store.session,
            journey=defn,
            data=WarehouseData(wh, as_of=now, principal=principal),
            ports=live_ports(redis_url),
            ctx=RunContext(now=now, entry_key="tick", policy=policy),
        )
        for node_id, metrics in got.items():
            out[f"v{v}/{node_id}"] = metrics
    return out


class _EventOverlay:
    """The warehouse's data plus one event that has just arrived (not loaded there yet)."""

    def __init__(
        self,
        data: WarehouseData,
        customer_id: int,
        event: str,
        props: dict[str, Any],
        at: dt.datetime,
    ) -> None:
        self.data, self.cid, self.event, self.props = data, customer_id, event, props
        self.at = np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "us")

    def attribute(self, field: str, ids: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        return self.data.attribute(field, ids)

    def condition(
        self, condition: Any, where: str, ids: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        return self.data.condition(condition, where, ids)

    def scores(self, model: str, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return self.data.scores(model, ids)

    def tag(self, name: str, ids: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        return self.data.tag(name, ids)

    def last_event(
        self, step: Any, ids: npt.NDArray[np.int64], after: dt.datetime
    ) -> npt.NDArray[Any]:
        out = self.data.last_event(step, ids, after)
        if _matches(step, self.event, self.props):
            out = np.where(ids == self.cid, self.at, out)
        return out


def _matches(step: Any, event: str, props: dict[str, Any]) -> bool:
    return bool(step.event == event and all(props.get(k) == v for k, v in step.properties.items()))


def on_event(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    customer_id: int,
    event: str,
    properties: dict[str, Any],
    message_id: str,
    at: dt.datetime,
    policy: ContactPolicy,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Real time, a batch of one: enter event-triggered journeys, resume waits for this event.

    The entry key is the event's message id, so a redelivered event enters nobody twice.
    """
    with store.session() as s:
        running = [
            validate_journey(v.definition)
            for v in s.execute(
                select(JourneyVersionRow).where(JourneyVersionRow.status == "running")
            ).scalars()
        ]
    data = _EventOverlay(
        WarehouseData(wh, as_of=at, principal=principal), customer_id, event, properties, at
    )
    out: dict[str, Any] = {}
    ids = np.array([customer_id], dtype=np.int64)
    for defn in running:
        triggers = [
            n
            for n in defn.nodes
            if n.kind == "event_entry" and _matches(n.config.trigger, event, properties)
        ]
        for node in triggers:
            res = run_entry(
                store=store,
                wh=wh,
                principal=principal,
                defn=defn,
                now=at,
                entry_key=f"evt:{message_id}"[:64],
                policy=policy,
                ids=ids,
                entry_node=node.id,
                ports=live_ports(redis_url),
            )
            out[f"{defn.id}/{node.id}"] = res.entered
        waits = [
            n
            for n in defn.nodes
            if n.kind == "wait_event" and _matches(n.config.event, event, properties)
        ]
        if waits:
            out[f"{defn.id}/resumed"] = tick(
                sessions=store.session,
                journey=defn,
                data=data,
                ports=live_ports(redis_url),
                ctx=RunContext(now=at, entry_key="event", policy=policy),
                customer_id=customer_id,
            )
    return out
