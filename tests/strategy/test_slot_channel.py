"""The ``slot`` channel (app resource slot, 资源位): a journey's send fills the customer's slot.

Through the real path: executor → Reach's outbox → dispatcher → ``SlotChannel`` →
the slot index the app reads. Consent: there is no ``consent_slot`` column (content in
the bank's own app), so only DND, the contact policy's caps and Reach's consent
overrides decide.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from tests.strategy.helpers import NOW, make_warehouse

from opsloop.reach import consent
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.models import OutboxRow, SlotAssignmentRow
from opsloop.reach.slots import SlotChannel, SlotIndex
from opsloop.store import Store
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import RunContext, enter
from opsloop.strategy.journey import JourneyValidationError, validate_journey
from opsloop.strategy.models import JourneyRow
from opsloop.strategy.policy import CapRule, ContactPolicy, GlobalControl
from opsloop.strategy.service import live_ports

N = 300
BANNER = {"slot": "home_banner", "title": "理财节 5% 起", "link": "https://bank.example/f"}


def _doc(send: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "banner",
        "name": "Banner",
        "reentry": {"mode": "always"},
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {"id": "show", "kind": "send_message", "config": send},
        ],
        "edges": [{"from": "entry", "to": "show"}],
    }


SEND = {"channel": "slot", "template_id": "fund-fest", "slot": {**BANNER, "priority": 5}}


@pytest.mark.parametrize(
    ("send", "words"),
    [
        ({"channel": "slot", "template_id": "t"}, "channel slot needs a slot"),
        ({"channel": "sms", "template_id": "t", "slot": BANNER}, "other channels take none"),
        ({**SEND, "slot": {**BANNER, "slot": "Home Banner"}}, "pattern"),
        ({**SEND, "slot": {**BANNER, "hours": 0}}, "greater than 0"),
    ],
)
def test_a_slot_send_needs_its_content_named_at_the_node(send: dict[str, Any], words: str) -> None:
    with pytest.raises(JourneyValidationError) as bad:
        validate_journey(_doc(send))
    assert bad.value.where.startswith("nodes[1].config")
    assert words in str(bad.value)


def test_slot_sends_reach_the_app_slot_with_dnd_caps_and_overrides(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    wh = make_warehouse(tmp_path / "w.duckdb", N)
    with store.session() as s:
        s.add(
            JourneyRow(
                journey_id="banner", name="Banner", status="running", latest_version=1,
                running_version=1, created_by="t",
            )
        )  # fmt: skip
    cols = wh.execute(wh.table("customers").select("customer_id", "consent_sms", "dnd"))
    ids = np.asarray(cols.column("customer_id").to_numpy(), dtype=np.int64)
    dnd = np.asarray(cols.column("dnd").to_numpy(), dtype=bool)
    no_sms = np.asarray(~cols.column("consent_sms").to_numpy(), dtype=bool)
    # no global control group here: every customer is either shown the banner or refused
    policy = ContactPolicy(
        caps=(CapRule(channel="slot", max=1, per="day"),), global_control=GlobalControl(share=0)
    )

    def run(key: str) -> Any:
        return enter(
            sessions=store.session, journey=validate_journey(_doc(SEND)), entry_node="entry",
            ids=ids, data=WarehouseData(wh, as_of=NOW), ports=live_ports(),
            ctx=RunContext(now=NOW, entry_key=key, policy=policy), chunk=128,
        )  # fmt: skip

    first, again = run("k1"), run("k2")  # the same day: the slot cap (1/day) binds
    assert first.stats["show"]["sent"] == int((~dnd).sum()) > 0
    assert first.stats["show"]["suppressed:dnd"] == int(dnd.sum()) > 0
    assert "suppressed:no_consent" not in first.stats["show"]  # no consent column for slot
    assert again.stats["show"]["suppressed:capped"] == int((~dnd).sum())
    # a customer who withdrew consent for slots a minute ago: Reach's override, at dispatch
    withdrawn = int(ids[~dnd][0])
    with store.session() as s:
        consent.set_consent(
            s, customer_id=withdrawn, channel="slot", allowed=False, source="app", now=NOW
        )
    at = NOW + dt.timedelta(seconds=1)
    d = Dispatcher(store, {"slot": SlotChannel("slot", store, clock=lambda: at)}, clock=lambda: at)
    while d.run_once():
        pass
    d.close()
    with store.session() as s:
        rows = s.execute(select(OutboxRow.customer_id, OutboxRow.status)).all()
        status = {cid: st for cid, st in rows}
        assigned = set(s.execute(select(SlotAssignmentRow.customer_id)).scalars())
    assert status[withdrawn] == "suppressed"
    assert assigned == set(ids[~dnd].tolist()) - {withdrawn}
    index = SlotIndex(store, clock=lambda: at)
    index.refresh()
    shown = [int(c) for c in ids[~dnd & no_sms] if int(c) != withdrawn]
    assert shown  # SMS consent withdrawn does not hide an in-app banner
    got = index.best("home_banner", shown[0])
    assert got is not None and got.title == BANNER["title"] and got.priority == 5
    assert got.link == BANNER["link"] and got.source == "journey:banner"
    assert index.best("home_banner", withdrawn) is None
    assert index.best("home_banner", int(ids[dnd][0])) is None
    store.close()
