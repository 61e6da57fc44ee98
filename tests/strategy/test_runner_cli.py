"""`opsloop journey run` as an operator runs it: a real process, real signals.

Events already in the Collection log enter the event-triggered journey once each
(a second event of the same customer, and a repeated message id, enter nobody twice);
a second runner on the same store is refused; SIGTERM stops the runner cleanly.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import select
from tests.strategy.helpers import customers

from opsloop.access.principal import Principal
from opsloop.collect.log import EventLog
from opsloop.collect.segment import Limits, iso, parse_request
from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.store import Store
from opsloop.strategy import service
from opsloop.warehouse import Warehouse

MAKER = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
CHECKER = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
JOURNEY = {
    "id": "outflow",
    "name": "Large outflow",
    "nodes": [
        {"id": "entry", "kind": "event_entry",
         "config": {"trigger": {"event": "large_outflow", "properties": {"tier": "gold"}}}},
        {"id": "call", "kind": "send_message",
         "config": {"channel": "sms", "template_id": "t-retain", "marketing": False}},
    ],
    "edges": [{"from": "entry", "to": "call"}],
}  # fmt: skip


def _items(rows: list[tuple[str, int, str]]) -> list[tuple[str, bytes]]:
    now = dt.datetime.now(dt.UTC)
    out: list[tuple[str, bytes]] = []
    for mid, cid, tier in rows:
        body = {"type": "track", "event": "large_outflow", "userId": str(cid), "messageId": mid,
                "timestamp": iso(now), "properties": {"tier": tier, "amount": 150_000}}  # fmt: skip
        for m in parse_request("track", body, received_at=now, source_id="t", limits=Limits()):
            out.append((m["messageId"], orjson.dumps(m)))
    return out


def _start(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OPSLOOP_HOME": str(home), "OPSLOOP_SECRET_KEY": "t" * 40}
    for var in ("OPSLOOP_DATABASE_URL", "OPSLOOP_WAREHOUSE", "OPSLOOP_REDIS_URL"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "opsloop.cli.main", "journey", "run", "--tick-every", "0.5"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_journey_run_consumes_the_log_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "contact-policy.json").write_bytes(orjson.dumps({"global_control": {"share": 0.0}}))
    wh = Warehouse.open(str(home / "warehouse.duckdb"))
    wh.replace_tables({"customers": customers(50)})
    wh.close()
    store = Store.open(f"sqlite:///{home / 'opsloop.db'}")
    with store.session() as s:
        service.save_journey(session=s, principal=MAKER, doc=JOURNEY)
        for who, action in ((MAKER, "submit"), (CHECKER, "approve"), (MAKER, "launch")):
            service.transition(session=s, principal=who, journey_id="outflow", action=action)
    log = EventLog(home / "events")
    rows = [("e1", 1, "gold"), ("e2", 2, "gold"), ("e3", 3, "silver"), ("e4", 2, "gold")]
    log.append(_items(rows))
    log.append(_items([("e1", 1, "gold"), ("e5", 4, "gold")]))  # e1 again: stored once
    log.close()

    proc = _start(home)
    try:
        deadline = time.monotonic() + 90
        got: set[int] = set()
        while time.monotonic() < deadline and got != {1, 2, 4}:
            time.sleep(0.2)
            with store.session() as s:
                got = set(s.scalars(select(ReachOutbox.customer_id)))
        assert got == {1, 2, 4}
        second = _start(home)
        _, err = second.communicate(timeout=90)
        assert second.returncode != 0 and ("runner" in err or "events" in err)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stopped" in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
    with store.session() as s:
        keys = list(s.scalars(select(ReachOutbox.key)))
    assert len(keys) == 3 == len(set(keys))
    assert np.array_equal(np.sort([int(k.split(":")[4]) for k in keys]), [1, 2, 4])
