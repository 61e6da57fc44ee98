"""A real-time micro-batch is one transaction over every running journey."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.strategy.helpers import NOW, journey_doc, make_warehouse

from opsloop.store import Store
from opsloop.strategy import realtime
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import Ports
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.models import ContactCount, CustomerState, OutboxRow, StepRow
from opsloop.strategy.policy import CapRule, ContactPolicy, SqlContactCounters
from opsloop.strategy.ports import RecordingChannel, StepBatch

POLICY = ContactPolicy(caps=(CapRule(channel="sms", max=2, per="week"),))


class FailingOn(RecordingChannel):
    """Records like the recording channel, but a send of ``journey_id`` fails."""

    def __init__(self, journey_id: str) -> None:
        self.journey_id = journey_id

    def send(
        self, session: Any, batch: StepBatch, *, channel: str, payload: dict[str, Any]
    ) -> None:
        if batch.journey_id == self.journey_id:
            raise RuntimeError("gateway adapter failed")
        super().send(session, batch, channel=channel, payload=payload)


def _journey(jid: str) -> Any:
    doc = journey_doc(id=jid)
    doc["nodes"][0] = {
        "id": "entry",
        "kind": "event_entry",
        "config": {"trigger": {"event": "signup"}},
    }
    doc["nodes"][1]["config"]["condition"]["value"] = 0  # everyone passes the split
    return validate_journey(doc)


def _counts(store: Store) -> tuple[int, int, int, int]:
    with store.session() as s:
        return (
            s.scalar(select(func.count()).select_from(CustomerState)) or 0,
            s.scalar(select(func.count()).select_from(StepRow)) or 0,
            s.scalar(select(func.count()).where(OutboxRow.channel == "sms")) or 0,
            s.scalar(
                select(func.coalesce(func.sum(ContactCount.used), 0)).where(
                    ContactCount.scope.like("sms/%")
                )
            )
            or 0,
        )


def test_a_failing_journey_rolls_back_the_whole_micro_batch(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    wh = make_warehouse(tmp_path / "wh.duckdb", 60)
    journeys = [_journey("first"), _journey("second")]
    events = [
        realtime.StreamEvent(cid, "signup", {}, f"m{cid}", NOW - dt.timedelta(seconds=1))
        for cid in range(1, 61)
    ]
    data = WarehouseData(wh, as_of=NOW)

    def run(sink: RecordingChannel) -> dict[str, int]:
        ports = Ports(sink, sink, sink, SqlContactCounters())
        return realtime.process(
            events, store=store, data=data, journeys=journeys, ports=ports,
            policy=POLICY, now=NOW,
        )  # fmt: skip

    with pytest.raises(RuntimeError, match="gateway adapter failed"):
        run(FailingOn("second"))
    # "first" had entered, sent and counted before "second" failed: all rolled back
    assert _counts(store) == (0, 0, 0, 0)

    got = run(RecordingChannel())
    assert got["first/entry"] == got["second/entry"] > 0
    states, steps, outbox, used = _counts(store)
    assert states == 2 * 60  # every customer rests somewhere in both journeys
    assert outbox > 0 and used == outbox  # one SMS cap slot per SMS sent
    assert steps >= outbox

    run(RecordingChannel())  # the stream redelivers the batch: nothing new
    assert _counts(store) == (states, steps, outbox, used)
    store.close()
