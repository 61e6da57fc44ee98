"""The ports wired to their owners: Reach's outbox and contact history, Activity's ledger.

Why adapters here rather than calls to ``outbox.enqueue`` and ``ledger.issue``: the
executor acts on a whole node's cohort inside the chunk's transaction. ``enqueue``
builds an ORM row per message and ``ledger.issue`` opens its own transactions (which
on SQLite would wait on the chunk's own write lock). So these write the same rows, with
the same unique keys, through the chunk's session:

* messages → ``reach_outbox`` under :func:`opsloop.reach.outbox.journey_key`
  (journey, version, node, customer, visit), ``ON CONFLICT (key) DO NOTHING`` — a
  replayed step enqueues nothing; Reach's dispatch workers claim and send the rows;
* suppressed contacts → ``reach_contacts`` (kind ``suppressed``, the policy's reason);
* RM tasks → the ``rm`` channel with the customer's ``org_path`` and ``rm_id`` (Reach's
  task channel queues them); webhooks → the node's Reach webhook channel (``webhook``
  by default) with the node's URL and headers rendered per customer
  (:mod:`opsloop.strategy.webhooks`);
* benefits → ``activity_units`` + ``activity_ledger`` with the step key as the ledger's
  idempotency key, every cap charged through Activity's own counters (a refused cap
  refuses that customer only, and the executor applies the node's ``on_blocked``);
* tag add/remove → the customer joins/leaves a **manual** tag's list in Insight's
  catalogue (``tag_manual_ids``; the value changes at the tag's next run, as for an
  import); a tag that is not a manual tag of the catalogue is only recorded in
  ``strategy_outbox``, since computed tags are owned by their rules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsloop.activity.benefits import BenefitDef
from opsloop.activity.counters import (
    Charge,
    Counters,
    ExhaustedError,
    SqlCounters,
    charges_for,
)
from opsloop.activity.models import BenefitRow, BenefitUnit, LedgerEntry
from opsloop.errors import InvalidInputError
from opsloop.insight.tags.tables import TagManualIdRow, TagRow
from opsloop.reach.channels.targets import CALL_KEY
from opsloop.reach.outbox import journey_key
from opsloop.strategy import bulk, webhooks
from opsloop.strategy.ports import RecordingChannel, StepBatch


def step_keys(batch: StepBatch) -> list[str]:
    """The Reach/Activity key of every step of the batch (journey_key's format)."""
    head = journey_key(batch.journey_id, batch.version, batch.node_id, 0, 0)[: -len(":0:0")]
    return [
        f"{head}:{c}:{v}"
        for c, v in zip(batch.customer_ids.tolist(), batch.visits.tolist(), strict=True)
    ]


def _at(session: Session, at: dt.datetime) -> str | None:
    return bulk.timestamps(
        session, np.array([at.astimezone(dt.UTC).replace(tzinfo=None)], "datetime64[us]")
    )[0]


class ReachSink:
    """MessageSink and ActionSink onto Reach's outbox (see the module docstring)."""

    def __init__(self) -> None:
        self.fallback = RecordingChannel()

    def send(
        self, session: Session, batch: StepBatch, *, channel: str, payload: dict[str, Any]
    ) -> None:
        body = {
            **payload,
            "journey_id": batch.journey_id,
            "version": batch.version,
            "node_id": batch.node_id,
        }
        self._enqueue(session, batch, channel, [orjson.dumps(body).decode()] * _n(batch))

    def suppressed(self, session: Session, batch: StepBatch, *, channel: str, reason: str) -> None:
        if not _n(batch):
            return
        consts = {
            "campaign": batch.journey_id, "channel": channel, "kind": "suppressed",
            "reason": reason, "at": _at(session, batch.at),
        }  # fmt: skip
        columns = {"customer_id": batch.customer_ids.tolist(), "message_key": step_keys(batch)}
        bulk.insert_columns(session, "reach_contacts", consts=consts, columns=columns)

    def record(
        self, session: Session, batch: StepBatch, *, kind: str, payload: dict[str, Any]
    ) -> None:
        if kind == "rm_task":
            org = batch.columns["org_path"]
            rm = batch.columns["rm_id"]
            task = {"script": payload["title"], "due": payload["due"]}
            bodies = [
                orjson.dumps({"org_path": o or "", "rm_id": r, **task}).decode()
                for o, r in zip(org.tolist(), rm.tolist(), strict=True)
            ]
            self._enqueue(session, batch, "rm", bodies)
        elif kind == "webhook":
            keys = step_keys(batch)
            calls = webhooks.render(
                str(payload["url"]), payload.get("headers") or {},
                journey_id=batch.journey_id, version=batch.version, node_id=batch.node_id,
                customer_ids=batch.customer_ids.tolist(), visits=batch.visits.tolist(), keys=keys,
            )  # fmt: skip
            head = {"journey_id": batch.journey_id, "version": batch.version}
            bodies = [
                orjson.dumps(
                    {CALL_KEY: {"url": url, "headers": hdrs}, **head, "node_id": batch.node_id}
                ).decode()
                for url, hdrs in calls
            ]
            self._enqueue(session, batch, str(payload.get("channel") or "webhook"), bodies)
        elif kind == "tag" and self._manual(session, str(payload["tag"])):
            ids = batch.customer_ids.tolist()
            if payload["op"] == "add":
                rows = [(payload["tag"], c) for c in ids]
                bulk.insert_many(
                    session, "tag_manual_ids", ("tag", "customer_id"), rows,
                    on_conflict="ON CONFLICT DO NOTHING",
                )  # fmt: skip
            else:
                session.execute(
                    delete(TagManualIdRow).where(
                        TagManualIdRow.tag == payload["tag"], TagManualIdRow.customer_id.in_(ids)
                    )
                )
        else:
            self.fallback.record(session, batch, kind=kind, payload=payload)

    @staticmethod
    def _manual(session: Session, name: str) -> bool:
        row = session.get(TagRow, name)
        return row is not None and row.type == "manual"

    def _enqueue(self, session: Session, batch: StepBatch, channel: str, bodies: list[str]) -> None:
        if not _n(batch):
            return
        at = _at(session, batch.at)
        consts: dict[str, Any] = {
            "channel": channel, "campaign": batch.journey_id, "status": "pending",
            "attempts": 0, "next_attempt_at": at, "cost": 0.0, "created_at": at,
        }  # fmt: skip
        columns: dict[str, list[Any]] = {
            "key": step_keys(batch),
            "customer_id": batch.customer_ids.tolist(),
        }
        if len(set(bodies)) == 1:  # one body for the whole batch: bound once
            consts["payload"] = bodies[0]
        else:
            columns["payload"] = bodies
        bulk.insert_columns(
            session,
            "reach_outbox",
            consts=consts,
            columns=columns,
            on_conflict="ON CONFLICT (key) DO NOTHING",
        )


def _n(batch: StepBatch) -> int:
    return len(batch.customer_ids)


class LedgerIssuer:
    """BenefitIssuer onto Activity's ledger, in the chunk's transaction.

    The activity of a journey's units is ``journey:<journey id>``. With Activity's SQL
    counters the charges roll back with the chunk; with its Redis counters a charge whose
    chunk then fails stays counted (towards issuing less, as in Activity itself).
    """

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters: Counters = counters or SqlCounters()

    def issue(
        self, session: Session, batch: StepBatch, *, benefit_id: str, payload: dict[str, Any]
    ) -> npt.NDArray[np.bool_]:
        ok = np.zeros(_n(batch), dtype=bool)
        if not len(ok):
            return ok
        row = session.get(BenefitRow, benefit_id)
        if row is None:
            raise InvalidInputError(f"unknown benefit {benefit_id!r}", where="config.benefit_id")
        benefit = BenefitDef.model_validate(row.definition)
        keys = step_keys(batch)
        done = set(
            session.scalars(select(LedgerEntry.idem_key).where(LedgerEntry.idem_key.in_(keys)))
        )
        activity = f"journey:{batch.journey_id}"[:64]
        now = batch.at
        day = now.date().isoformat()
        for i, (cid, key) in enumerate(zip(batch.customer_ids.tolist(), keys, strict=True)):
            if key in done:  # issued by an earlier, interrupted run of this step
                ok[i] = True
                continue
            charges = charges_for(
                benefit, activity_id=activity, customer_id=cid, day=day, activity_budget_cents=None
            )
            if not self._charge(session, charges):
                continue
            unit = BenefitUnit(
                unit_id=uuid.uuid4().hex,
                benefit_id=benefit.id,
                kind=benefit.value.kind,
                activity_id=activity,
                customer_id=cid,
                status="issued",
                value_cents=benefit.unit_cost_cents,
                threshold_cents=benefit.threshold_cents,
                issued_at=now,
                expires_at=benefit.validity.expires_at(now),
            )
            session.add(unit)
            session.add(
                LedgerEntry(
                    unit_id=unit.unit_id,
                    benefit_id=benefit.id,
                    activity_id=activity,
                    customer_id=cid,
                    kind="issue",
                    value_cents=unit.value_cents,
                    issued_on=day,
                    idem_key=key,
                    at=now,
                )
            )
            ok[i] = True
        session.flush()
        return ok

    def _charge(self, session: Session, charges: list[Charge]) -> bool:
        """All of one customer's charges or none (guarded SQL one by one, refunding on refusal)."""
        if not self.counters.transactional:
            try:
                self.counters.charge(session, charges)
            except ExhaustedError:
                return False
            return True
        applied: list[Charge] = []
        for c in charges:
            try:
                self.counters.charge(session, [c])
            except ExhaustedError:
                self.counters.refund(session, applied)
                return False
            if c.cap is not None:
                applied.append(c)
        return True
