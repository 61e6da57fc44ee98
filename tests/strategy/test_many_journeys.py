"""200 journeys at once against one contact policy: no customer ever exceeds a cap.

Every outbox row is counted per customer × channel × cap window (ISO week for SMS, day
for push, in the bank's time zone); none may exceed its cap. Half the journeys run on
Monday and half on Tuesday of the same week, from 8 threads on real PostgreSQL, so the
weekly SMS cap spans both days and the daily push cap resets between them. The caps
must also bind: every customer who may be contacted gets exactly the cap.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from tests.strategy.helpers import NOW, make_warehouse

from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.store import Store
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import RunContext, enter
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.policy import CapRule, ContactPolicy, unit_hash
from opsloop.strategy.service import live_ports

JOURNEYS, CUSTOMERS = 200, 40
POLICY = ContactPolicy(
    caps=(CapRule(channel="sms", max=2, per="week"), CapRule(channel="push", max=1, per="day"))
)
CAPS = {"sms": 2, "push": 1}


def _doc(i: int) -> dict[str, Any]:
    return {
        "id": f"j{i:03d}",
        "name": f"journey {i}",
        "business_line": "wealth" if i % 2 else "cards",
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {"id": "sms", "kind": "send_message", "config": {"channel": "sms", "template_id": "t"},
             "on_blocked": {"action": "skip"}},
            {"id": "push", "kind": "send_message",
             "config": {"channel": "push", "template_id": "p"}},
        ],
        "edges": [{"from": "entry", "to": "sms"}, {"from": "sms", "to": "push"}],
    }  # fmt: skip


def _window(channel: str, at: dt.datetime) -> str:
    local = at.astimezone(POLICY.zone())
    if channel == "sms":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week}"
    return local.date().isoformat()


def test_two_hundred_journeys_never_exceed_a_cap(pg_url: str, tmp_path: Path) -> None:
    store = Store.open(pg_url)
    wh = make_warehouse(tmp_path / "w.duckdb", CUSTOMERS)
    ids = np.arange(1, CUSTOMERS + 1, dtype=np.int64)
    data = WarehouseData(wh, as_of=NOW)
    ports = live_ports()
    days = [NOW, NOW + dt.timedelta(days=1)]

    def run(i: int) -> None:
        enter(
            sessions=store.session, journey=validate_journey(_doc(i)), entry_node="entry",
            ids=ids, data=data, ports=ports,
            ctx=RunContext(now=days[i % 2], entry_key="k", policy=POLICY),
        )  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(run, range(JOURNEYS)))
    with store.session() as s:
        rows = s.execute(
            select(ReachOutbox.customer_id, ReachOutbox.channel, ReachOutbox.created_at)
        ).all()
    per: Counter[tuple[int, str, str]] = Counter(
        (int(c), ch, _window(ch, at if at.tzinfo else at.replace(tzinfo=dt.UTC)))
        for c, ch, at in rows
    )
    over = {k: v for k, v in per.items() if v > CAPS[k[1]]}
    assert not over, over
    # The caps bind: everyone who may be contacted got exactly the cap, per window.
    cust = wh.execute(wh.table("customers")).to_pandas().set_index("customer_id").loc[ids]
    control = unit_hash(ids, "opsloop-global-control") < POLICY.global_control.share
    for ch in ("sms", "push"):
        ok = cust[f"consent_{ch}"].to_numpy() & ~cust.dnd.to_numpy() & ~control
        windows = {_window(ch, d) for d in days}
        want = {(int(c), ch, w): CAPS[ch] for c in ids[ok] for w in windows}
        got = {k: v for k, v in per.items() if k[1] == ch}
        assert got == want
    store.close()
