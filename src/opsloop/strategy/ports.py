"""Where journey actions go: small protocols, and a recording channel behind them.

:mod:`opsloop.strategy.sinks` implements them on Reach's outbox (messages, RM tasks,
webhooks, suppressions into contact history) and Activity's ledger (benefits).
:class:`RecordingChannel` writes each action to ``strategy_outbox`` instead — dry runs
and tests that only look at decisions use it. Both write under the unique step key
(journey, version, node, customer, visit), inside the executor's transaction, so an
action is recorded exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy.orm import Session

from opsloop.strategy import bulk


@dataclass(frozen=True)
class StepBatch:
    """The customers one node acts on, with the parts of their step key."""

    journey_id: str
    version: int
    node_id: str
    customer_ids: npt.NDArray[np.int64]
    visits: npt.NDArray[np.int64]
    at: dt.datetime
    # per-customer values an action needs (an RM task's org_path and rm_id), aligned
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)


class MessageSink(Protocol):
    def send(
        self, session: Session, batch: StepBatch, *, channel: str, payload: dict[str, Any]
    ) -> None: ...

    def suppressed(self, session: Session, batch: StepBatch, *, channel: str, reason: str) -> None:
        """Record contacts the policy refused for good (contact history)."""
        ...


class BenefitIssuer(Protocol):
    def issue(
        self, session: Session, batch: StepBatch, *, benefit_id: str, payload: dict[str, Any]
    ) -> npt.NDArray[np.bool_]:
        """Issue one unit per customer; True where issued, False where a cap refused."""
        ...


class ActionSink(Protocol):
    """RM tasks, tags and webhooks (recorded for now; owned by Reach/Insight later)."""

    def record(
        self, session: Session, batch: StepBatch, *, kind: str, payload: dict[str, Any]
    ) -> None: ...


class RecordingChannel:
    """Implements every port by writing rows to ``strategy_outbox`` (idempotent)."""

    def send(
        self, session: Session, batch: StepBatch, *, channel: str, payload: dict[str, Any]
    ) -> None:
        self._write(session, batch, "message", channel, payload)

    def suppressed(self, session: Session, batch: StepBatch, *, channel: str, reason: str) -> None:
        """Nothing more to write: ``strategy_steps`` already holds the outcome and reason."""

    def issue(
        self, session: Session, batch: StepBatch, *, benefit_id: str, payload: dict[str, Any]
    ) -> npt.NDArray[np.bool_]:
        self._write(session, batch, "benefit", None, {"benefit_id": benefit_id, **payload})
        return np.ones(len(batch.customer_ids), dtype=bool)

    def record(
        self, session: Session, batch: StepBatch, *, kind: str, payload: dict[str, Any]
    ) -> None:
        self._write(session, batch, kind, None, payload)

    def _write(
        self,
        session: Session,
        batch: StepBatch,
        kind: str,
        channel: str | None,
        payload: dict[str, Any],
    ) -> None:
        if not len(batch.customer_ids):
            return
        at = bulk.timestamps(
            session, np.array([batch.at.astimezone(dt.UTC).replace(tzinfo=None)], "datetime64[us]")
        )[0]
        body = orjson.dumps(payload).decode()
        consts = {
            "journey_id": batch.journey_id, "version": batch.version, "node_id": batch.node_id,
            "kind": kind, "channel": channel, "payload": body, "at": at,
        }  # fmt: skip
        bulk.insert_grouped(
            session,
            "strategy_outbox",
            consts=consts,
            columns={"customer_id": batch.customer_ids.tolist(), "visit": batch.visits.tolist()},
            key="customer_id",
            on_conflict="ON CONFLICT DO NOTHING",
        )
