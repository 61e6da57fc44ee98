"""The loop closed: a clicked short link shows up as an event a journey can wait for.

journey send → Reach's outbox → Reach's short link ``/r/{token}`` followed over HTTP →
a ``reach_clicked`` event in the Collection log → the journey runner's stream consumer
resumes the waiting customer on the ``event`` branch; a customer who did not click
takes the ``timeout`` branch when the runner's clock passes the wait.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.strategy.helpers import make_warehouse

from access.fixtures import OPEN_LIMITS, settings, store_url
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.api.app import create_app
from opsloop.reach import service as reach
from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.strategy import service
from opsloop.strategy.models import CustomerState, StepRow
from opsloop.strategy.runner import JourneyRunner, RunnerBusyError, RunnerLock

__all__ = ["settings", "store_url"]
MAKER = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
CHECKER = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
CLICKER, IDLE = 7, 8

JOURNEY: dict[str, Any] = {
    "id": "offer",
    "name": "Fund offer",
    "nodes": [
        {"id": "entry", "kind": "api_entry", "config": {}},
        {"id": "sms", "kind": "send_message",
         "config": {"channel": "sms", "template_id": "t-offer", "marketing": False}},
        {"id": "click", "kind": "wait_event",
         "config": {"event": {"event": "reach_clicked"}, "timeout": {"amount": 3, "unit": "days"}}},
        {"id": "yes", "kind": "tag", "config": {"op": "add", "tag": "clicked"}},
        {"id": "no", "kind": "tag", "config": {"op": "add", "tag": "ignored"}},
    ],
    "edges": [
        {"from": "entry", "to": "sms"}, {"from": "sms", "to": "click"},
        {"from": "click", "to": "yes", "branch": "event"},
        {"from": "click", "to": "no", "branch": "timeout"},
    ],
}  # fmt: skip


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.ensure_home()
    make_warehouse(Path(settings.warehouse), 20).close()
    (settings.home / "contact-policy.json").write_bytes(
        orjson.dumps({"global_control": {"share": 0.0}})
    )
    app = create_app(settings, access=OPEN_LIMITS, local_token="local-test-token")
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _steps(store: Store, node: str) -> set[int]:
    with store.session() as s:
        rows = s.scalars(select(StepRow.customer_id).where(StepRow.node_id == node))
        return set(rows)


def test_clicked_link_moves_the_journey_and_silence_times_out(
    client: TestClient, settings: Settings
) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    store, wh = state.store, state.warehouse
    with store.session() as s:
        service.save_journey(session=s, principal=MAKER, doc=JOURNEY)
        service.transition(session=s, principal=MAKER, journey_id="offer", action="submit")
        service.transition(session=s, principal=CHECKER, journey_id="offer", action="approve")
    sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    service.launch(
        store=store, wh=wh, principal=MAKER, journey_id="offer", now=sent_at,
        policy=service.load_policy(settings.home),
    )  # fmt: skip
    with store.session() as s:
        defn = service.running_definition(session=s, journey_id="offer")
    res = service.run_entry(
        store=store, wh=wh, principal=LOCAL_OPERATOR, defn=defn, now=sent_at, entry_key="api-1",
        policy=service.load_policy(settings.home),
        ids=np.array([CLICKER, IDLE], dtype=np.int64), entry_node="entry",
    )  # fmt: skip
    assert res.stats["sms"]["sent"] == 2
    with store.session() as s:
        keys = dict(s.execute(select(ReachOutbox.customer_id, ReachOutbox.key)).all())
    assert set(keys) == {CLICKER, IDLE}

    runner = JourneyRunner(
        store=store, wh=wh, stream=state.collector.log, principal=LOCAL_OPERATOR,
        home=settings.home, tick_every=3600,
    )  # fmt: skip
    runner.start()
    try:
        with pytest.raises(RunnerBusyError):  # one runner per store
            RunnerLock(store).acquire()
        # Reach renders the message with a short link; the customer follows it.
        token = reach.create_link(
            store, url="https://bank.example/fund", customer_id=CLICKER, campaign="offer",
            channel="sms", message_key=keys[CLICKER], now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        r = client.get(f"/r/{token}", follow_redirects=False)
        assert r.status_code == 302
        deadline = time.monotonic() + 30
        while CLICKER not in _steps(store, "yes") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert _steps(store, "yes") == {CLICKER}
    assert _steps(store, "no") == set()
    with store.session() as s:
        waiting = set(
            s.scalars(select(CustomerState.customer_id).where(CustomerState.status == "waiting"))
        )
    assert waiting == {IDLE}

    # Past the 3-day wait, the runner's clock sends the other customer down "timeout".
    later = JourneyRunner(
        store=store, wh=wh, stream=state.collector.log, principal=LOCAL_OPERATOR,
        home=settings.home, clock=lambda: sent_at + dt.timedelta(days=3, minutes=1),
    )  # fmt: skip
    later.tick_all()
    assert _steps(store, "no") == {IDLE}
    assert _steps(store, "yes") == {CLICKER}
